"""Writing benchmark results into docs/benchmarks.md (shared by the benchmark scripts)."""

from __future__ import annotations

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
