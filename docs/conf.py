"""Sphinx configuration of the flask-realtime documentation (``make docs``)."""

from __future__ import annotations

import flask_realtime

project = "flask-realtime"
author = "flask-realtime developers"
copyright = "2026, flask-realtime developers"  # noqa: A001 - Sphinx's name for it
release = flask_realtime.__version__  # the one version: pyproject.toml reads it too
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The docstrings are Google style (Args:, Returns:, Raises:); signatures show the types.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"flask-realtime {release}"
