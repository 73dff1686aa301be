"""Serve MathJax from the built book itself, so equations render with no network.

MathJax 3.2.2 comes from the pinned ``django-static-mathjax`` wheel (installed by ``make venv``);
its files are copied into ``_static/mathjax`` of the HTML output at the end of each build and
never committed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

#: What tex-mml-chtml.js loads at run time (fonts, extensions, the menu's accessibility parts).
PARTS = ("tex-mml-chtml.js", "input", "output", "a11y", "ui", "adaptors")


def mathjax_source() -> Path:
    import mathjax  # the django-static-mathjax package

    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def _use_local_path(app, config):
    config.mathjax_path = "mathjax/tex-mml-chtml.js"


def _copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    source, target = mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for part in PARTS:
        src, dst = source / part, target / part
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def setup(app):
    mathjax_source()  # fail early, with an ImportError naming the package, if it is missing
    app.connect("config-inited", _use_local_path)
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
