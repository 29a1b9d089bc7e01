"""The Streamlit app of ``snas ui``: the frame around the four pages (``streamlit run app.py``).

``snas ui`` starts it with the runs folder in ``$SNAS_UI_RUNS_DIR``.
"""

from pathlib import Path

import streamlit as st

from snas_plugins.ui.runs import runs_dir

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="snas", page_icon=":material/neurology:", layout="wide")
navigation = st.navigation([
    st.Page(HERE / "page_runs.py", title="Runs", icon=":material/list:", url_path="runs", default=True),
    st.Page(HERE / "page_new.py", title="New search", icon=":material/add_circle:", url_path="new"),
    st.Page(HERE / "page_run.py", title="Run (live)", icon=":material/monitoring:", url_path="run"),
    st.Page(HERE / "page_results.py", title="Results", icon=":material/insights:", url_path="results"),
])
st.sidebar.caption(f"Runs folder: `{runs_dir()}`")
navigation.run()
