"""New search page: data, strategy, families, budget and every option of the chosen components; Start.

Start runs the same ``snas search`` a user would type, as its own process.
"""

import os
import time
from pathlib import Path

import attrs
import streamlit as st

import snas
from snas import SnasError
from snas_plugins.ui.forms import options_form
from snas_plugins.ui.runs import (
    SearchRequest, check_request, launch, runs_dir, save_upload, search_command, shown_command,
)

#: where the data come from
SOURCES = ("A registered data set", "A folder of images", "A CSV file and its images (upload)")

root = runs_dir()
manager = snas.get_plugin_manager()


def names(kind: str) -> list[str]:
    """Every registered component of ``kind``, sorted."""
    return sorted(manager.components(kind))


def labelled(kind: str):
    """A drop-down label function: ``name — description``."""
    infos = manager.components(kind)

    def label(name: str) -> str:
        description = infos[name].description if name in infos else ""
        return f"{name} \u2014 {description}" if description else name

    return label


def index_of(options: list[str], wanted: str | None) -> int:
    return options.index(wanted) if wanted in options else 0


def default_of(kind: str) -> str | None:
    """The component of ``kind`` its plugin marks as the default, if exactly one does."""
    try:
        return manager.default(kind)
    except SnasError:
        return None


st.title("New search")
errors: list[str] = []

st.subheader("Data")
source = st.radio("Data source", SOURCES, horizontal=True, key="source")
fixed_data: dict = {}
csv_upload = images_upload = None
if source == SOURCES[0]:
    datasets = names("dataset")
    dataset = st.selectbox("Data set", datasets, index=index_of(datasets, default_of("dataset")), key="dataset",
                           format_func=labelled("dataset"))
elif source == SOURCES[1]:
    dataset = "folder"
    folder = st.text_input("Folder of images", placeholder="/path/to/images", key="folder_path",
                           help="One subfolder per class, named after the class; images inside (any depth).")
    if folder.strip():
        fixed_data["path"] = str(Path(folder.strip()).expanduser().resolve())
    else:
        errors.append("name the folder of images")
else:
    dataset = "csv"
    csv_upload = st.file_uploader("CSV file", type=["csv"], key="csv_file",
                                  help="Columns image and label (other names: data set options below).")
    images_upload = st.file_uploader("Its images, as a zip archive", type=["zip"], key="images_zip",
                                     help="The CSV's image paths are read as paths inside the archive.")
    if csv_upload is None:
        errors.append("upload the CSV file")

st.subheader("Search")
left, middle, right = st.columns(3)
strategies, families, evaluators = names("strategy"), names("family"), names("evaluator")
strategy = left.selectbox("Search strategy", strategies, index=index_of(strategies, default_of("strategy")),
                          key="strategy", format_func=labelled("strategy"))
network_types = middle.multiselect("Network families", families, default=manager.defaults("family"), key="families")
evaluator = right.selectbox("Evaluator", evaluators, index=index_of(evaluators, default_of("evaluator")),
                            key="evaluator", format_func=labelled("evaluator"))

st.subheader("Budget and run")
c1, c2, c3, c4, c5 = st.columns(5)
max_trials = c1.number_input("Max trials", min_value=1, value=None, step=1, placeholder="strategy's own",
                             key="max_trials", help="Architectures to train; empty: the strategy's own budget.")
minutes = c2.number_input("Time budget (minutes)", min_value=0.0, value=None, step=1.0, placeholder="none",
                          key="time_budget", help="No new trial starts after it; empty: no time budget.")
complexity = c3.selectbox("Max complexity", [None, 1, 2, 3], key="max_complexity",
                          format_func=lambda v: "auto" if v is None else str(v),
                          help="Highest complexity level searched (auto: the lowest that offers every family).")
workers = c4.number_input("Workers", min_value=1, max_value=max(1, os.cpu_count() or 1), value=1, step=1,
                          key="workers", help="Trials trained at once, each in its own process.")
seed = c5.number_input("Seed", min_value=0, value=0, step=1, key="seed")
stamp = st.session_state.setdefault("run_stamp", time.strftime("%Y%m%d-%H%M%S"))
run_name = st.text_input("Run name", value=f"{dataset}-{strategy}-{stamp}",
                         help=f"The run's folder under {root}.").strip()

with st.expander(f"Options of the strategy **{strategy}**"):
    strategy_options, problems = options_form(manager.get("strategy", strategy), key=f"strategy.{strategy}")
    errors += problems
with st.expander(f"Options of the evaluator **{evaluator}**", expanded=True):
    evaluator_options, problems = options_form(manager.get("evaluator", evaluator), key=f"evaluator.{evaluator}")
    errors += problems
with st.expander(f"Options of the data set **{dataset}**"):
    dataset_options, problems = options_form(manager.get("dataset", dataset), key=f"dataset.{dataset}",
                                             skip=("path",) if source != SOURCES[0] else ())
    errors += problems

request = SearchRequest(
    run_name=run_name, dataset=dataset, strategy=strategy, network_types=tuple(network_types), evaluator=evaluator,
    max_trials=int(max_trials) if max_trials else None, time_budget=minutes * 60 if minutes else None,
    max_complexity=complexity, num_workers=int(workers), seed=int(seed),
    strategy_options=strategy_options, evaluator_options=evaluator_options,
    dataset_options={**dataset_options, **fixed_data},
)
shown = request if csv_upload is None else attrs.evolve(
    request, dataset_options={**request.dataset_options, "path": f"{root}/.uploads/…/{csv_upload.name}"})
st.caption("Start runs this command as its own process (closing the UI does not stop it):")
st.code(shown_command(search_command(shown, root)), language="bash", wrap_lines=True)

if st.button("Start search", type="primary", key="start", icon=":material/play_arrow:"):
    errors += check_request(request, root, manager)
    if errors:
        for error in errors:
            st.error(error)
    else:
        try:
            if csv_upload is not None:
                path = save_upload(root, csv_upload.name, csv_upload.getvalue(),
                                   images_upload.getvalue() if images_upload is not None else None)
                request = attrs.evolve(request, dataset_options={**request.dataset_options, "path": str(path)})
            launch(search_command(request, root), root / request.run_name)
        except (SnasError, OSError) as exc:
            st.error(str(exc))
        else:
            del st.session_state["run_stamp"]
            st.switch_page("page_run.py", query_params={"run": request.run_name})
