"""Sphinx configuration of the course's website (`make site`, site/build.py).

site/build.py copies this file into the project it assembles (the notebooks, the start page,
the downloads, MathJax under _static/mathjax) and runs Sphinx on it. Nothing is executed
(the outputs are stored ones) and nothing is loaded from another host when the site is read.
"""

project = "seq2seq-course"
author = "the seq2seq-course authors"
copyright = "the seq2seq-course authors; Tatoeba sentences CC-BY 2.0 FR"

extensions = ["myst_nb"]  # MyST markdown and notebooks; it loads myst_parser itself

# The pages show stored outputs: the release has none, site/build.py copies those of the
# narrative cells from the executed solution notebooks. Never run a notebook here.
nb_execution_mode = "off"
# No widget JavaScript (myst-nb's default loads require.js and the widget manager from CDNs).
nb_ipywidgets_js = {}
nb_merge_streams = True

# $...$ and $$...$$ in the notebooks' markdown become Sphinx math, which MathJax renders.
myst_enable_extensions = ["dollarmath", "amsmath"]
# myst-parser would write a MathJax 3/4 configuration; MathJax 2 is configured below.
myst_update_mathjax = False

# MathJax 2.7, from the site (site/build.py copies jupyter-server-mathjax's files): the
# configuration Jupyter itself uses, with the STIX-Web fonts that package ships, no image
# fonts, and no "Loading..." messages in the corner. Without the hidden MathML copy of each
# equation (AssistiveMML): Chromium renders it, and its double-struck and script letters then
# fetch MathJax's TeX fonts, which that package does not ship (a 404 per font). Screen-reader
# users can turn it back on in MathJax's menu (right click on an equation).
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
mathjax2_config = {
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                "processEscapes": True, "processEnvironments": False},
    "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web",
                 "imageFont": None},
    "menuSettings": {"assistiveMML": False},
    "messageStyle": "none",
}

html_theme = "furo"  # its own CSS and JS, and the reader's system fonts: no web fonts
html_title = "seq2seq-course"
html_static_path = ["_static"]
# Neither "show source" links nor copies of the page sources (the notebooks are downloads).
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None

# Quotes as the notebooks write them (docutils would curl them, also in `'<pad>'`-like text).
smartquotes = False

exclude_patterns = ["downloads", "_static", "**.ipynb_checkpoints"]
