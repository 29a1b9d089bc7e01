"""Streamlit pieces the pages share: the run picker and how a status is shown."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from snas_plugins.ui.runs import run_folders

#: how each status is shown: an icon and a colour of Streamlit's markdown
STATUS_STYLE = {
    "running": (":material/play_circle:", "green"),
    "starting": (":material/hourglass_top:", "blue"),
    "finished": (":material/check_circle:", "green"),
    "budget_exhausted": (":material/check_circle:", "green"),
    "exhausted": (":material/check_circle:", "green"),
    "interrupted": (":material/pause_circle:", "orange"),
    "stopped": (":material/stop_circle:", "orange"),
    "failed": (":material/error:", "red"),
    "failed to start": (":material/error:", "red"),
    "unreadable": (":material/error:", "red"),
}


def status_badge(status: str) -> str:
    """``status`` as coloured markdown with its icon."""
    icon, colour = STATUS_STYLE.get(status, (":material/help:", "gray"))
    return f":{colour}[{icon} **{status}**]"


def pick_run(root: Path) -> Path | None:
    """A drop-down of the runs under ``root``, kept in the page's address (``?run=NAME``) so it can be shared."""
    folders = run_folders(root)
    if not folders:
        st.info(f"No runs under `{root}` yet: start one on **New search**.")
        return None
    names = [f.name for f in folders]
    wanted = st.query_params.get("run")
    if wanted and wanted not in names:
        st.warning(f"No run called `{wanted}` under `{root}`.")
    name = st.selectbox("Run", names, index=names.index(wanted) if wanted in names else 0)
    if st.query_params.get("run") != name:
        st.query_params["run"] = name
    return root / name
