"""Writing benchmark results into docs/benchmarks.md, and what else ran meanwhile (shared by the benchmark scripts)."""

from __future__ import annotations

import os
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def write_section(path: Path, heading: str, text: str) -> None:
    """Replace (or append) the section starting at ``heading`` in ``path``."""
    old = path.read_text() if path.exists() else "# Benchmarks\n\n"
    start = old.find(heading)
    if start < 0:
        new = old.rstrip() + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(heading))
        new = old[:start] + text + ("" if end < 0 else old[end:])
    path.write_text(new.rstrip() + "\n")


def write_subsection(path: Path, heading: str, subheading: str, text: str) -> None:
    """Replace (or add) the subsection ``subheading`` (``### ...``) inside the section ``heading``."""
    old = path.read_text() if path.exists() else "# Benchmarks\n\n"
    start = old.find(heading)
    if start < 0:
        write_section(path, heading, f"{heading}\n\n{text}")
        return
    end = old.find("\n## ", start + len(heading))
    section = old[start:] if end < 0 else old[start:end]
    at = section.find(subheading)
    if at < 0:
        section = section.rstrip() + "\n\n" + text
    else:
        stop = section.find("\n### ", at + len(subheading))
        section = section[:at] + text + ("" if stop < 0 else section[stop:])
    write_section(path, heading, section)


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, steal) clock ticks of all CPUs since boot, from /proc/stat; ``None`` where there is none."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq, steal


def _own_cpu() -> float:
    """CPU seconds of this process and the child processes it has waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class OtherLoad:
    """What else used the machine while a benchmark ran: a quiet machine reads close to zero on both.

    :meth:`read` gives the CPU seconds of every other process and the
    seconds the hypervisor gave the CPUs to other machines (steal), since
    the object was made (Linux; ``None`` elsewhere). The load average lags
    by minutes, so it cannot say this.
    """

    def __init__(self) -> None:
        self._ticks = _cpu_ticks()
        self._own = _own_cpu()
        self._hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def read(self) -> tuple[float, float] | None:
        """``(other processes' CPU seconds, steal seconds)`` so far, from one reading of /proc/stat."""
        now = _cpu_ticks()
        if now is None or self._ticks is None:
            return None
        busy, steal = ((a - b) / self._hz for a, b in zip(now, self._ticks))
        return max(0.0, busy - (_own_cpu() - self._own)), steal

    def describe(self) -> str:
        """One sentence for a report."""
        reading = self.read()
        if reading is None:
            return "other load not measured (no /proc/stat)"
        return f"other processes used {reading[0]:.1f} CPU s and steal was {reading[1]:.1f} s while it ran"
