"""Sphinx configuration: ``pip install -e '.[docs]' && sphinx-build -W --keep-going docs docs/_build/html``.

The references are generated: the command line from the click commands
(sphinx-click), the API and the hooks' contracts from their docstrings
(autodoc), the option tables from each built-in plugin's ``Options``
(``_ext/snas_docs.py``). ``tests/test_docs.py`` builds the site with ``-W``
and runs every code snippet.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

import snas  # noqa: E402

project = "snas"
author = "The snas developers"
copyright = "2026, The snas developers"
release = version = snas.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx_click",
    "snas_docs",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "README.md"]

# Markdown: `[text](page.md#heading)` links resolve to heading anchors down to ###
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": True}

html_theme = "furo"
html_title = f"snas {release}"
html_static_path: list[str] = []
