"""Offer every executed chapter as a notebook download.

myst-nb writes each executed chapter to ``<build>/jupyter_execute/<docname>.ipynb``. This
extension appends a download link to every such page and, at the end of the build, copies the
notebooks to ``_notebooks/<docname>.ipynb`` in the HTML output (the outputs are never committed).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from docutils import nodes


def _executed(app) -> Path:
    return Path(app.outdir).parent / "jupyter_execute"


def _add_link(app, doctree, docname):
    if app.builder.format != "html" or not (_executed(app) / f"{docname}.ipynb").exists():
        return
    page_dir = Path(docname).parent
    href = os.path.relpath(Path("_notebooks") / f"{docname}.ipynb", page_dir).replace(os.sep, "/")
    html = (f'<p class="executed-notebook">Download this chapter as an '
            f'<a href="{href}" download>executed notebook (.ipynb)</a>, with the outputs of this build.</p>')
    doctree.append(nodes.raw("", html, format="html"))


def _copy_notebooks(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for notebook in _executed(app).rglob("*.ipynb"):
        target = Path(app.outdir) / "_notebooks" / notebook.relative_to(_executed(app))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(notebook, target)


def setup(app):
    app.connect("doctree-resolved", _add_link)
    app.connect("build-finished", _copy_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
