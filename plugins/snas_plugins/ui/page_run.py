"""A run, live: the budget and each trial in flight as progress bars, the curves, the trial table; Stop and Resume.

Everything is read from the run folder (``live.json``, the journal, the
checkpoint) about once a second while the run is being written, so any
number of browser tabs can watch the same run.
"""

import time

import altair as alt
import pandas as pd
import streamlit as st

from snas import SnasError
from snas.runtime.store import read_live
from snas_plugins.reporting.analysis import FigureUnavailable, search_progress
from snas_plugins.ui.common import pick_run, status_badge
from snas_plugins.ui.runs import (
    budget_bar, describe_age, launched_process, load, log_tail, reap, resume_run, runs_dir, stop_run, summarize,
    trial_bars,
)

#: seconds between reads of a run that is being written
REFRESH_SECONDS = 1.0

root = runs_dir()
st.title("Run")
folder = pick_run(root)


def active(summary) -> bool:
    """Whether the run is being written, or a process the UI started for it has not ended yet."""
    process = launched_process(summary.folder)
    return summary.running or summary.status == "starting" or bool(process and process["alive"])


def controls(summary) -> None:
    """Stop while a process writes the run; Resume (with an optional new trial budget) otherwise."""
    if summary.running:
        if st.button("Stop", key="stop", icon=":material/stop:", type="primary",
                     help="A clean stop: every finished trial is kept; resume it later."):
            try:
                pid = stop_run(summary.folder)
            except SnasError as exc:
                st.error(str(exc))
            else:
                st.toast(f"Asked process {pid} to stop; the trials in flight are left for Resume.")
        return
    if not summary.has_run_file or summary.status == "starting":
        return
    result = load(summary.folder)
    left, right, _ = st.columns([1, 1, 3])
    budget = left.number_input("Trial budget", min_value=1, step=1, key="resume_budget",
                               value=result.config.get("max_trials") or None, placeholder="as configured",
                               help="Total trials of the resumed run (raise it to continue a finished run).")
    right.write("")
    if right.button("Resume", key="resume", icon=":material/play_arrow:", type="primary"):
        try:
            resume_run(summary.folder, max_trials=int(budget) if budget else None)
        except SnasError as exc:
            st.error(str(exc))
        else:
            st.rerun()


def score_chart(data) -> alt.Chart:
    """Each trial's score (dots) and the best so far (a step line), against the trial number."""
    frame = pd.DataFrame({"trial": data.trial_ids, "score": data.scores, "best so far": data.best_so_far})
    y = alt.Y("score:Q", scale=alt.Scale(zero=False), title="score")
    dots = alt.Chart(frame).mark_circle(size=45, opacity=0.7, color="#4c72b0").encode(
        x=alt.X("trial:Q", title="trial", axis=alt.Axis(format="d", tickMinStep=1)), y=y,
        tooltip=["trial", "score"])
    best = alt.Chart(frame).mark_line(interpolate="step-after", color="#c44e52", strokeWidth=2).encode(
        x="trial:Q", y="best so far:Q")
    return (dots + best).properties(height=260)


def curves(result, running: bool) -> None:
    """Best so far against trial, mean and best per generation, complexity level and diversity."""
    try:
        data = search_progress(result)
    except FigureUnavailable:
        st.caption("The curves appear once a trial has succeeded.")
        data = None
    if data is not None:
        left, right = st.columns(2) if data.generations else (st.container(), None)
        left.markdown("**Score by trial** (dots) **and best so far** (red)")
        left.altair_chart(score_chart(data), width="stretch")
        if right is not None:
            right.markdown("**Mean and best score per generation**")
            right.line_chart(pd.DataFrame({"mean": data.generation_mean, "best": data.generation_best},
                                          index=pd.Index(data.generations, name="generation")), height=260)
    figures = [(g["generation"], g.get("progress") or {}) for g in result.generations]
    level = {g: p["level"] for g, p in figures if isinstance(p.get("level"), (int, float))}
    entropy = {g: p["entropy"] for g, p in figures if isinstance(p.get("entropy"), (int, float))}
    if level or entropy:
        left, right = st.columns(2)
        if level:
            left.markdown("**Complexity level by generation**")
            left.line_chart(pd.Series(level, name="level").rename_axis("generation"), height=200)
        if entropy:
            right.markdown("**Diversity (entropy of the population) by generation**")
            right.line_chart(pd.Series(entropy, name="entropy").rename_axis("generation"), height=200)
    elif not result.generations and data is not None:
        st.caption("No generation has ended yet." if running else
                   "The run records no generations (its strategy proposes no batches of its own).")


def trial_table(result) -> None:
    """Every finished trial (sortable by any column); failed ones with their error and traceback."""
    if not result.trials:
        st.caption("No trial has finished yet.")
        return
    rows = [{
        "trial": t.trial_id, "family": t.arch.family, "status": t.status if t.cached_from is None
        else f"cached ({t.cached_from})", "score": t.score, "test accuracy": t.metrics.get("test_accuracy"),
        "params": t.metrics.get("params"), "FLOPs": t.metrics.get("flops"), "epochs": t.metrics.get("epochs"),
        "seconds": round(t.duration, 2), "generation": t.meta.get("generation"), "fingerprint": t.fingerprint,
        "error": (t.error or "").splitlines()[0] if t.error else None,
    } for t in result.trials]
    frame = pd.DataFrame(rows)
    frame = frame.drop(columns=[c for c in ("FLOPs", "epochs", "generation", "error") if frame[c].isna().all()])
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={"score": st.column_config.NumberColumn(format="%.4f"),
                                "test accuracy": st.column_config.NumberColumn(format="%.4f")})
    for t in result.trials:
        if t.status == "failed":
            with st.expander(f"Trial {t.trial_id} failed: {(t.error or 'no error recorded').splitlines()[0][:120]}"):
                st.code(t.error or "", language=None)
                trace = t.metrics.get("traceback")
                if trace:
                    st.code(trace, language="python")
                else:
                    st.caption("No traceback was recorded.")


def show(folder) -> None:
    """The whole view of one run; redrawn by the fragment below.

    Each part lives in its own container, so parts whose number of elements
    changes (the bars of the trials in flight) do not shift the others
    between redraws.
    """
    reap()
    summary = summarize(folder)
    header, bars, facts, buttons, charts, table, output = (st.container() for _ in range(7))
    status_line = f"{status_badge(summary.status)} · last activity {describe_age(time.time() - summary.updated)}"
    if summary.writer:
        status_line += f" · written by process {summary.writer.get('pid')}"
    header.markdown(status_line)
    if not summary.has_run_file:
        if summary.status == "starting":
            bars.progress(0.0, text="starting: the search process is loading its data")
        else:
            bars.error("The search process ended before it created the run.")
        output.code(log_tail(folder) or "(nothing printed yet)", language=None)
        return
    result = load(folder)
    live = read_live(folder) if summary.running else None
    bar = budget_bar(result, live, summary.running)
    bars.progress(bar.fraction, text=f"**Budget**: {bar.text}")
    for trial in trial_bars(live):
        bars.progress(trial.fraction, text=trial.text)
    failed = sum(1 for t in result.trials if t.status == "failed")
    text = f"{len(result.trials)} trials finished, {failed} failed."
    if result.best is not None:
        best = result.best
        text = f"Best so far: **{best.score:.4f}** (trial {best.trial_id}, {best.arch.family}); {text}"
    facts.markdown(text)
    if not summary.running and result.pending:
        count = len(result.pending)
        facts.caption(f"{count} {'trial was' if count == 1 else 'trials were'} in flight when the run stopped: "
                      f"Resume runs {'it' if count == 1 else 'them'} again.")
    with buttons:
        controls(summary)
    with charts:
        curves(result, summary.running)
    with table:
        st.subheader("Trials")
        trial_table(result)
    with output.expander("Process output"):
        st.code(log_tail(folder) or "(the UI started no process for this run)", language=None)


if folder is not None:
    watching = active(summarize(folder))

    @st.fragment(run_every=REFRESH_SECONDS if watching else None)
    def live_view() -> None:
        """Redrawn every second while the run is written; a full rerun when that changes."""
        show(folder)
        if active(summarize(folder)) != watching:
            st.rerun()

    live_view()
