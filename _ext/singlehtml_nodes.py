"""Let the single-page HTML builder (``make pdf``) render every node the HTML builder renders.

Sphinx looks up a builder's visitors for extension nodes by the builder's *name* and falls back to its
*format* only when no extension registered any visitor under that name. sphinx-exercise registers its
nodes for ``singlehtml`` by name, so the fallback is off for that builder and sphinx-proof's nodes
(registered for ``html`` only) fail with "unknown node type". Before ``singlehtml`` writes, this copies
every ``html`` visitor that it lacks.
"""

from __future__ import annotations


def _inherit_html_visitors(app):
    builder = app.builder
    if builder.name == builder.format or builder.format != "html":
        return
    handlers = app.registry.translation_handlers
    if builder.name not in handlers:  # Sphinx falls back to the format by itself
        return
    for node, visitors in handlers.get("html", {}).items():
        handlers[builder.name].setdefault(node, visitors)


def setup(app):
    app.connect("builder-inited", _inherit_html_visitors)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
