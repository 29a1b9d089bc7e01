"""Results page: every figure of ``snas report`` for one run, and export buttons that build one zip to download."""

import threading

import streamlit as st

from snas import SnasError
from snas_plugins.exporters.run_export import available_formats
from snas_plugins.reporting import figures
from snas_plugins.reporting.analysis import FigureUnavailable
from snas_plugins.ui.common import pick_run, status_badge
from snas_plugins.ui.runs import export_zip, load, runs_dir, signature, summarize

#: the tabs of the page and the figures each holds
TABS = {
    "Best architecture": ("architecture",),
    "Training": ("curves", "confusion", "roc"),
    "Accuracy vs size": ("pareto",),
    "Parameter importance": ("importance",),
    "Search space": ("space",),
    "Progress": ("progress",),
}

#: figures drawn narrower than the page (pixels)
IMAGE_WIDTH = {"architecture": 640}
#: figures kept drawn, across sessions (the oldest is dropped first)
KEEP_PICTURES = 64
_pictures: dict[tuple, tuple[bytes | None, str | None]] = {}
_pictures_lock = threading.Lock()


def picture(folder, kind: str) -> tuple[bytes | None, str | None]:
    """The PNG of figure ``kind`` of the run in ``folder`` (or why there is none), drawn once per state of the run."""
    key = (str(folder), signature(folder), kind)
    with _pictures_lock:
        if key in _pictures:
            return _pictures[key]
    try:
        png, reason = figures.figure_bytes(figures.draw(load(folder), kind)), None
    except FigureUnavailable as exc:
        png, reason = None, str(exc)
    with _pictures_lock:
        _pictures[key] = (png, reason)
        while len(_pictures) > KEEP_PICTURES:
            del _pictures[next(iter(_pictures))]
    return png, reason


def summary_metrics(result) -> None:
    best = result.best
    columns = st.columns(5)
    m = best.metrics if best else {}

    def fmt(value, spec):
        return format(value, spec) if isinstance(value, (int, float)) else "\u2013"

    columns[0].metric("Best validation accuracy", fmt(m.get("val_accuracy", best.score if best else None), ".4f"))
    columns[1].metric("Test accuracy", fmt(m.get("test_accuracy"), ".4f"))
    columns[2].metric("Parameters", fmt(m.get("params"), ","))
    columns[3].metric("FLOPs per image", fmt(m.get("flops"), ",.0f"))
    columns[4].metric("Trials", f"{len(result.trials)}")
    if best is not None:
        st.caption(f"Best: trial {best.trial_id}, family {best.arch.family}, fingerprint `{best.fingerprint}`.")


def export_section(folder) -> None:
    """Choose formats, build them (verified, as ``snas export`` does), download them as one zip."""
    st.subheader("Export the best model")
    formats = available_formats()
    chosen = st.multiselect("Formats", formats, default=[f for f in ("onnx",) if f in formats], key="formats")
    built = st.session_state.get("export_built")
    if st.button("Build export", key="export", icon=":material/package_2:", disabled=not chosen):
        with st.spinner(f"Exporting {', '.join(chosen)} (each format is written and verified)…"):
            try:
                data, report = export_zip(folder, chosen)
            except SnasError as exc:
                st.error(str(exc))
                built = None
            else:
                built = {"folder": str(folder), "data": data, "formats": [
                    {"format": f.format, "ok": f.ok, "error": f.error, "seconds": f.seconds} for f in report.formats]}
        st.session_state["export_built"] = built
    if built and built["folder"] == str(folder):
        for fmt in built["formats"]:
            if fmt["ok"]:
                st.success(f"{fmt['format']}: written and verified in {fmt['seconds']:.1f} s")
            else:
                st.error(f"{fmt['format']}: {fmt['error']}")
        if any(f["ok"] for f in built["formats"]):
            st.download_button("Download the export (zip)", built["data"], file_name=f"{folder.name}-export.zip",
                               mime="application/zip", key="download", icon=":material/download:")


root = runs_dir()
st.title("Results")
folder = pick_run(root)
if folder is not None:
    summary = summarize(folder)
    if not summary.has_run_file:
        st.info("This run has no results yet.")
    else:
        result = load(folder)
        st.markdown(f"{status_badge(summary.status)} · data set **{result.config.get('dataset')}** · strategy "
                    f"**{result.config.get('strategy')}**")
        if summary.running:
            st.caption("The run is still going: these figures show the trials finished so far (reload for more).")
        summary_metrics(result)
        for tab, kinds in zip(st.tabs(list(TABS)), TABS.values()):
            with tab:
                for kind in kinds:
                    info = figures.FIGURES[kind]
                    png, reason = picture(folder, kind)
                    st.markdown(f"**{info.title}**")
                    if png is None:
                        st.info(f"No {info.title.lower()}: {reason}")
                    else:
                        st.image(png, caption=info.caption, width=IMAGE_WIDTH.get(kind, "stretch"))
        if result.best is not None:
            export_section(folder)
