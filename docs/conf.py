"""Sphinx configuration of the exactdiff documentation.

Build (from the repository root, with ``pip install -e ".[docs]"``)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

Before Sphinx reads anything, ``_ext/apigen.py`` writes the API reference (``docs/api/``)
from the package's ``__all__`` lists and copies the committed notebooks into
``docs/notebooks/``; both folders are generated and git-ignored.
"""

import os
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
sys.path.insert(0, ROOT)  # the exactdiff of this checkout, installed or not
sys.path.insert(0, os.path.join(DOCS, "_ext"))

import apigen  # noqa: E402

import exactdiff  # noqa: E402

apigen.write_api(os.path.join(DOCS, "api"))
apigen.copy_notebooks(os.path.join(ROOT, "notebooks"), os.path.join(DOCS, "notebooks"))

# -- Project -------------------------------------------------------------------------------
project = "exactdiff"
author = "the exactdiff developers"
copyright = "the exactdiff developers (MIT licence)"
release = exactdiff.__version__
version = ".".join(release.split(".")[:2])

# -- Extensions ----------------------------------------------------------------------------
extensions = [
    "myst_nb",  # MyST markdown pages and the notebooks (myst-nb includes myst-parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_copybutton",
    # docs/_ext/apigen.py, as an extension: references to any public path of an object
    # resolve to its page; a bar in a docstring is a bar (|U|, not a substitution); inline
    # code naming an API object (`ed.estimate_nll`) links to it; the guide index drops the
    # entries of guides other branches have not merged yet (apigen.PENDING_GUIDES).
    "apigen",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "_ext", "**.ipynb_checkpoints"]
root_doc = "index"

# MyST: $…$ and $$…$$ math, ::: fences, definition lists, headings as link targets.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# The notebooks write $$…$$ inside paragraphs, as Jupyter allows.
myst_dmath_double_inline = True

# The notebooks are committed with their outputs and rendered as they are, never re-run
# (the test suite executes them).
nb_execution_mode = "off"

# -- API reference -------------------------------------------------------------------------
# The stubs are written by apigen (one page per public object), not by autosummary.
autosummary_generate = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False  # autoclass :members: documents the methods inline
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- HTML ----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"exactdiff {release}"
html_static_path = []
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False

copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
