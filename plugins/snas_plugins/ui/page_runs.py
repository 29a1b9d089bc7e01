"""Runs page: every run folder under the runs folder, with its status, trials, best accuracy and age."""

import time

import pandas as pd
import streamlit as st

from snas_plugins.ui.runs import describe_age, list_runs, reap, runs_dir

#: seconds between refreshes of the table
REFRESH_SECONDS = 3.0

root = runs_dir()
st.title("Runs")
st.caption(f"Every run under `{root}`. A search keeps running when the UI is closed; open it again to watch.")


@st.fragment(run_every=REFRESH_SECONDS)
def runs_table() -> None:
    """The table of runs, read again every few seconds."""
    reap()
    runs = list_runs(root)
    if not runs:
        st.info(f"No runs under `{root}` yet: start one on **New search**.")
        return
    now = time.time()
    st.dataframe(
        pd.DataFrame([{
            "run": r.name, "status": r.status, "trials": r.trials, "failed": r.failed,
            "best accuracy": r.best_score, "test accuracy": r.test_accuracy, "data set": r.dataset,
            "strategy": r.strategy, "last activity": describe_age(now - r.updated),
        } for r in runs]),
        hide_index=True, width="stretch",
        column_config={"best accuracy": st.column_config.NumberColumn(format="%.4f"),
                       "test accuracy": st.column_config.NumberColumn(format="%.4f")},
    )
    for r in runs:
        if r.note:
            with st.expander(f"{r.name}: {r.status}"):
                st.code(r.note, language=None)


runs_table()
names = [r.name for r in list_runs(root)]
if names:
    choice = st.selectbox("Open a run", names, key="open_run")
    left, right, _ = st.columns([1, 1, 4])
    if left.button("Live view", key="open_live", icon=":material/monitoring:"):
        st.switch_page("page_run.py", query_params={"run": choice})
    if right.button("Results", key="open_results", icon=":material/insights:"):
        st.switch_page("page_results.py", query_params={"run": choice})
