"""Stop a search part-way, as a crash would, then resume it from its run folder.

    python examples/resume.py
"""

import threading

import snas

RUN = "runs/resume"
stop = threading.Event()


class StopAfter:
    """An observer that stops the run once ``n`` trials have finished (a stand-in for Ctrl-C or a crash)."""

    def __init__(self, n: int):
        self.n = n
        self.finished = 0

    @snas.hookimpl
    def snas_trial_finished(self, run, trial):
        self.finished += 1
        if self.finished >= self.n:
            stop.set()


first = snas.search(strategy="random", max_trials=10, run_dir=RUN, evaluator_options={"max_epochs": 5},
                    observers=[StopAfter(4)], stop=stop)
print(f"first session: {first.status}, {len(first.trials)} trials kept")

resumed = snas.resume(RUN)
print(f"after resume:  {resumed.status}, {len(resumed.trials)} trials")
print(f"best validation accuracy {resumed.best.score:.3f} (trial {resumed.best.trial_id})")
