"""Sphinx configuration: `pip install -e '.[docs]' && sphinx-build docs docs/_build`."""

project = "snas"
author = "The snas developers"
copyright = "2026, The snas developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
master_doc = "index"
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
html_theme = "alabaster"
