"""Sphinx configuration for the asgiref documentation (built by scripts/docs)."""

import sys
from pathlib import Path

# Document the package from this working tree, also when it is not installed.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asgiref  # noqa: E402

project = "asgiref"
author = "the asgiref reimplementation's authors"
copyright = "the asgiref reimplementation's authors"  # noqa: A001 - Sphinx's name
release = asgiref.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store"]

# `name` in prose and docstrings is a cross-reference to a Python object when one is documented
# here, and plain code otherwise.
default_role = "py:obj"
# Python's own names (`threading.local`, `asyncio.Task`...) are not documented here and stay
# plain code; only references to this package's pages are expected to resolve.
nitpicky = False

# --- autodoc -------------------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
# Members are listed page by page: only the public ones, in a reading order.
autodoc_default_options: dict[str, object] = {}
python_use_unqualified_type_names = True
add_module_names = False

# --- MyST (the Markdown files of the repository: DIFFERENCES.md, CHANGELOG.md) -------------------
myst_heading_anchors = 3

# --- HTML ----------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"asgiref {release}"
html_static_path: list[str] = []

