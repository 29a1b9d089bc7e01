"""A plugin the executor tests install (as a distribution on ``sys.path``) so worker processes find it.

Its evaluator ``steps`` works for ``steps`` × ``step_seconds`` seconds,
reporting progress after every step with its process id, and can kill its own
process with SIGKILL (as an out-of-memory killer or a segfault in a plugin
would) on chosen trials: ``kill_always`` on every attempt, ``kill_once`` on
the first attempt only (remembered by a file in ``marker_dir``). Its score is
a fixed function of the architecture, so results are easy to compare. Its
metrics say where it ran: process id, device, torch threads, and which copy of
the data set it was given (``data_id``, and ``data_token``: the data set's
``info["token"]``, which a test can set on the copy the driver loaded).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import attrs
import torch

from snas import Evaluator, TrialResult, current_trial, hookimpl, option


@attrs.frozen
class StepsOptions:
    """Settings of the ``steps`` test evaluator."""

    steps: int = option(10, low=1, help="Steps a trial works for, reporting progress after each.")
    step_seconds: float = option(0.05, low=0, help="Seconds each step sleeps.")
    kill_always: list[int] = option(factory=list, help="Trial ids whose process kills itself on every attempt.")
    kill_once: list[int] = option(factory=list, help="Trial ids whose process kills itself on the first attempt.")
    marker_dir: str | None = option(None, help="Folder remembering which kill_once trials were attempted.")


class Steps(Evaluator):
    """Sleep in steps, reporting progress; die on chosen trials."""

    name = "steps"
    Options = StepsOptions

    def evaluate(self, arch, family, data, *, seed, device, protocol="full"):
        trial = current_trial()
        options = self.options
        for step in range(1, options.steps + 1):
            time.sleep(options.step_seconds)
            trial.report("working", step=step, total=options.steps, pid=os.getpid())
            if step == 2 and self._dies(trial.trial_id):
                os.kill(os.getpid(), signal.SIGKILL)
            stop = trial.should_stop()
            if stop:
                return TrialResult(status=stop, score=0.0, metrics={"pid": os.getpid()})
        score = int(arch.fingerprint[:8], 16) / 0xFFFFFFFF
        return TrialResult(score=score, metrics={"pid": os.getpid(), "device": str(device),
                                                 "threads": torch.get_num_threads(), "data_id": id(data),
                                                 "data_token": data.info.get("token")})

    def _dies(self, trial_id: int) -> bool:
        if trial_id in self.options.kill_always:
            return True
        if trial_id in self.options.kill_once:
            marker = Path(self.options.marker_dir) / f"attempted-{trial_id}"
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                return True
        return False


@hookimpl
def snas_register_evaluators():
    return [Steps]
