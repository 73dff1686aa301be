"""Offer every executed chapter as a notebook download that opens cleanly in Jupyter.

myst-nb writes each executed chapter to ``<build>/jupyter_execute/<docname>.ipynb``. This
extension appends a download link to every such page and, at the end of the build, writes the
notebooks to ``_notebooks/<docname>.ipynb`` in the HTML output (the outputs are never committed).

The copy is made reader-ready: Jupyter renders plain Markdown, not MyST, so :func:`myst_to_markdown`
turns the roles (``{cite}``, ``{numref}``, ``{doc}`` ...) and directives (exercises, solutions,
theorems, admonitions, math ...) of every Markdown cell (and of every Markdown output) into plain
Markdown, with the numbers and titles of this build where the build knows them; and a first code
cell (:data:`SETUP_TAG`) imports ``collapse_lib`` or says how to install it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from docutils import nodes

SETUP_TAG = "collapse-lib-setup"
CAPTION_TAG = "figure-caption"
SETUP_SOURCE = """\
# This notebook is a chapter of "Model collapse, rerun"; its code needs the book's library, collapse_lib.
try:
    import collapse_lib
except ImportError:
    print("collapse_lib is not installed: in a clone of the project run `pip install -e .` "
          "(or `make book`, which installs it into .venv), then restart this kernel.")
"""

# --------------------------------------------------------------------------------------------
# MyST -> plain Markdown
# --------------------------------------------------------------------------------------------

_ROLE = re.compile(r"\{(?P<name>[A-Za-z][\w.:+-]*)\}(?P<ticks>`+)(?P<body>.*?)(?P=ticks)(?!`)", re.S)
_TICKS = re.compile(r"`+")
_TARGET = re.compile(r"^[ \t]*\((?P<label>[^()\s]+)\)=[ \t]*$")
_LABELLED_MATH_END = re.compile(r"^(?P<indent>[ \t]*)\$\$[ \t]*\((?P<label>[^()\s]+)\)[ \t]*$")
_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]{0,3})(?P<fence>`{3,}|:{3,}|~{3,})(?P<info>.*)$")
_TEXT_AND_TARGET = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>\s*$", re.S)

_ADMONITIONS = {"note", "tip", "hint", "important", "warning", "caution", "attention", "danger",
                "error", "seealso", "admonition", "margin", "sidebar", "topic", "epigraph", "card"}
_PROOF_KINDS = {"theorem", "lemma", "proposition", "corollary", "definition", "conjecture", "axiom",
                "criterion", "example", "remark", "assumption", "observation", "property", "algorithm"}
_CODE = {"code", "code-block", "sourcecode", "code-cell"}
_MATH = {"math", "equation"}


def find_roles(text: str) -> list[str]:
    """The MyST roles (``{name}`...```) in Markdown ``text``, outside code spans and code blocks.

    Also used by the tests: a converted cell must have none.
    """
    found = []
    _scan_roles(_strip_code_blocks(text), lambda m: found.append(m.group(0)) or m.group(0))
    return found


def find_directives(text: str) -> list[str]:
    """The opening lines of MyST directives (```` ```{name} ```` or ``:::{name}``) in ``text``."""
    return [line.strip() for line in text.splitlines()
            if (m := _FENCE_OPEN.match(line.lstrip(" >\t"))) and m.group("info").lstrip().startswith("{")]


def myst_to_markdown(text: str, *, titles: dict | None = None, citations: dict | None = None) -> str:
    """Plain (Jupyter) Markdown for the MyST Markdown ``text`` of one cell.

    ``titles`` maps a target (a label, or a document name) to the text a reference to it shows:
    ``"Fig. 2.3"``, ``"Exercise 4"``, a section's or a chapter's title, an equation's number.
    ``citations`` maps a bibliography key to ``(authors, year)``. Unknown targets and keys show
    as their text or key, so the result is readable without either.
    """
    ctx = _Context(titles or {}, citations or {})
    return _convert_block(text, ctx)


class _Context:
    def __init__(self, titles, citations):
        self.titles = titles
        self.citations = citations


def _strip_code_blocks(text: str) -> str:
    """``text`` with the bodies of ordinary (non-directive) fenced code blocks blanked out."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        if m and not m.group("info").lstrip().startswith("{") and not (m.group("fence")[0] == "`" and "`" in m.group("info")):
            end = _fence_end(lines, i, m.group("fence"))
            out.extend([""] * (end - i + (end < len(lines))))
            i = end + 1
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def _fence_end(lines, start, fence):
    """Index of the line closing the fence opened at ``lines[start]`` (``len(lines)`` if none)."""
    close = re.compile(r"^[ \t]{0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$")
    for j in range(start + 1, len(lines)):
        if close.match(lines[j]):
            return j
    return len(lines)


def _scan_roles(text: str, replace) -> str:
    """``text`` with every role outside inline code spans replaced by ``replace(match)``."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "{" and (m := _ROLE.match(text, i)):
            out.append(replace(m))
            i = m.end()
        elif text[i] == "`":
            ticks = _TICKS.match(text, i).group(0)
            close = re.compile(r"(?<!`)" + ticks + r"(?!`)").search(text, i + len(ticks))
            end = close.end() if close else i + len(ticks)
            out.append(text[i:end])
            i = end
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _convert_block(text: str, ctx: _Context) -> str:
    lines = text.splitlines()
    out: list[str] = []       # converted lines
    pending: list[str] = []   # Markdown text whose roles are still to convert (a role may span lines)

    def flush():
        if pending:
            out.extend(_roles("\n".join(pending), ctx).split("\n"))
            pending.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        m = _FENCE_OPEN.match(line)
        if m:
            fence, info = m.group("fence"), m.group("info").strip()
            if not (fence[0] == "`" and "`" in info):   # a backtick fence's info string has no backticks
                flush()
                end = _fence_end(lines, i, fence)
                body = lines[i + 1:end]
                if info.startswith("{"):
                    indent = m.group("indent")
                    body = [ln[len(indent):] if ln.startswith(indent) else ln for ln in body]
                    out.extend(indent + ln if ln else ln for ln in _directive(info, body, ctx))
                    while out and not out[-1] and (end + 1 >= len(lines) or not lines[end + 1].strip()):
                        out.pop()                       # the source's own blank line follows
                else:
                    out.extend(lines[i:end + 1])        # ordinary code block: verbatim
                i = end + 1
                continue
        i += 1
        if _TARGET.match(line):                          # (label)= : a target, invisible in the book
            continue
        if mm := _LABELLED_MATH_END.match(line):         # $$ (label): number the equation
            number = ctx.titles.get(mm.group("label"))
            if number:
                pending.append(f"{mm.group('indent')}\\tag{{{number.strip('()')}}}")
            pending.append(f"{mm.group('indent')}$$")
            continue
        before = pending[-2] if len(pending) > 1 else (out[-1] if out and len(pending) == 1 else "")
        if (line.startswith(": ") and pending and pending[-1].strip()
                and not pending[-1].startswith((": ", " ", "-", "*  ")) and not before.strip()):
            # a definition list item (term, then ": definition") -> a bullet
            pending[-1] = f"- **{pending[-1].strip().strip('*')}**: {line[2:]}"
            continue
        pending.append(line)
    flush()
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _roles(line: str, ctx: _Context) -> str:
    return _scan_roles(line, lambda m: _role(m.group("name"), m.group("body"), ctx))


def _split_target(body: str):
    """``("text", "target")`` for ``text <target>``; ``(None, body)`` otherwise."""
    m = _TEXT_AND_TARGET.match(body)
    return (m.group("text").strip(), m.group("target").strip()) if m else (None, body.strip())


def _role(name: str, body: str, ctx: _Context) -> str:
    kind = name.split(":")[-1]
    if name.startswith("cite"):
        keys = [k.strip() for k in body.split(",") if k.strip()]
        if kind == "t":                                   # {cite:t}: Author (Year)
            return "; ".join(_author_year(k, ctx, textual=True) for k in keys)
        return "(" + "; ".join(_author_year(k, ctx) for k in keys) + ")"
    if kind in {"numref", "ref", "doc", "eq", "term", "download", "any"} or name.startswith("prf:"):
        text, target = _split_target(body)
        known = ctx.titles.get(target.lstrip("~"))
        if kind == "eq":
            return f"({(known or target).strip('()')})"
        if text and ("%s" in text or "{number}" in text):
            number = re.sub(r"^\D*", "", known or "") or target
            return text.replace("%s", number).replace("{number}", number)
        return text or known or target
    if kind in {"math"}:
        return f"${body}$"
    if kind in {"sub", "subscript"}:
        return f"<sub>{body}</sub>"
    if kind in {"sup", "superscript"}:
        return f"<sup>{body}</sup>"
    if kind in {"abbr"}:
        return _split_target(body)[0] or body
    # {mod}, {func}, {class}, {py:...}, {code}, {kbd}, {file}, {samp}, ...: inline code
    text, target = _split_target(body)
    return f"`{(text or target).lstrip('~')}`"


def _author_year(key: str, ctx: _Context, textual: bool = False) -> str:
    if key not in ctx.citations:
        return f"[{key}]"
    authors, year = ctx.citations[key]
    return f"{authors} ({year})" if textual else f"{authors} {year}"


def _directive(info: str, body: list[str], ctx: _Context) -> list[str]:
    m = re.match(r"\{(?P<name>[^}]+)\}\s*(?P<arg>.*)$", info)
    name, arg = m.group("name"), m.group("arg").strip()
    options, body = _options(body)
    kind = name.split(":")[-1]
    content = _convert_block("\n".join(body), ctx).strip("\n")
    label = options.get("label") or options.get("name")
    title = _roles(arg, ctx)

    if kind == "exercise":
        number = ctx.titles.get(label, "Exercise") if label else "Exercise"
        heading = f"**{number}: {title}**" if title else f"**{number}**"
        return [heading, "", content, ""]
    if kind == "solution":
        return ["<details>", "<summary><b>Solution</b></summary>", "", content, "", "</details>", ""]
    if kind == "proof":
        return ["*Proof.*", "", content, "", "$\\blacksquare$", ""]
    if name.startswith("prf:") or kind in _PROOF_KINDS:
        number = ctx.titles.get(label) if label else None
        number = number or kind.capitalize()
        heading = f"**{number} ({title}).**" if title else f"**{number}.**"
        return [heading, "", content, ""]
    if kind in _MATH:
        math = "\n".join(body).strip("\n") if not arg else arg
        number = ctx.titles.get(label) if label else None
        return ["$$", math] + ([f"\\tag{{{number.strip('()')}}}"] if number else []) + ["$$", ""]
    if kind in _CODE:
        language = arg.split()[0] if arg else ""
        return [f"```{language}", *body, "```", ""]
    if kind in {"figure", "image"}:
        caption = content if kind == "figure" else ""
        alt = options.get("alt", caption.splitlines()[0] if caption else "")
        lines = [f"![{alt}]({arg})"]
        if caption:
            number = ctx.titles.get(label) if label else None
            lines += ["", f"*{number + ': ' if number else ''}{caption}*"]
        return lines + [""]
    if kind in _ADMONITIONS or kind in {"dropdown", "details"}:
        heading = title if kind in {"admonition", "topic", "sidebar", "card", "dropdown", "details"} and title \
            else kind.capitalize().replace("Seealso", "See also")
        if kind in {"dropdown", "details"}:
            return ["<details>", f"<summary><b>{heading}</b></summary>", "", content, "", "</details>", ""]
        quoted = [f"> {ln}" if ln.strip() else ">" for ln in content.splitlines()]
        return [f"> **{heading}**", ">", *quoted, ""]
    if kind == "bibliography":
        return ["*The references are listed in the book's bibliography.*", ""]
    if kind in {"eval-rst", "nb-exec-table", "toctree", "tableofcontents", "glue:figure", "glue:math", "raw"}:
        return ["*(This part of the page is generated by the book's build; see the book.)*", ""]
    # any other directive: its title in bold, then its content
    heading = f"**{title}**" if title else f"**{kind.replace('-', ' ').capitalize()}**"
    return [heading, "", content, ""]


def _options(body: list[str]):
    """The directive's options (``:key: value`` lines or a ``---`` YAML block) and the rest."""
    options, i = {}, 0
    if body and body[0].strip() == "---":
        j = next((k for k in range(1, len(body)) if body[k].strip() == "---"), None)
        if j is not None:
            for ln in body[1:j]:
                if ":" in ln and not ln.startswith(" "):
                    key, _, value = ln.partition(":")
                    options[key.strip()] = value.strip()
            return options, body[j + 1:]
    while i < len(body) and (m := re.match(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$", body[i])):
        options[m.group("key")] = m.group("value").strip()
        i += 1
    return options, body[i:]


# --------------------------------------------------------------------------------------------
# What the build knows: numbers, titles, citations
# --------------------------------------------------------------------------------------------

def build_titles(app, docname: str) -> dict:
    """Targets -> the text a reference shows, as Sphinx resolved them in this build.

    Document names are keyed both in full and relative to ``docname``'s folder (as ``{doc}`` in
    that chapter writes them).
    """
    env, titles = app.env, {}
    folder = Path(docname).parent
    for doc, title in env.titles.items():
        text = title.astext()
        titles[doc] = text
        titles["/" + doc] = text
        titles[os.path.relpath(doc, folder).replace(os.sep, "/")] = text
    std = env.get_domain("std")
    for label, (_doc, _anchor, section) in std.labels.items():
        if section:
            titles[label] = section
    labels_of = {}
    for label, (ldoc, lanchor, *_rest) in [*std.labels.items(), *std.anonlabels.items()]:
        labels_of.setdefault((ldoc, lanchor), set()).add(label)
    formats = dict(getattr(app.config, "numfig_format", {}) or {})
    for doc, by_type in getattr(env, "toc_fignumbers", {}).items():
        for figtype, numbers in by_type.items():
            fmt = formats.get(figtype) or f"{figtype.split(':')[-1].capitalize()} %s"
            for anchor, number in numbers.items():
                text = fmt % ".".join(map(str, number))
                text = text[:1].upper() + text[1:]        # sphinx-proof's formats are lower case
                for label in labels_of.get((doc, anchor), set()) | {anchor}:
                    titles[label] = text
    try:
        for label, (_doc, number) in env.get_domain("math").equations.items():
            titles[label] = f"({number})"
    except Exception:                                     # pragma: no cover - other Sphinx versions
        pass
    return titles


def build_citations(app) -> dict:
    """Bibliography key -> ``(authors, year)``, from the book's ``bibtex_bibfiles``."""
    try:
        from pybtex.database import parse_file
    except ImportError:                                   # pragma: no cover
        return {}
    citations = {}
    for name in getattr(app.config, "bibtex_bibfiles", []) or []:
        path = Path(app.srcdir) / name
        if not path.exists():
            continue
        for key, entry in parse_file(str(path)).entries.items():
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            last = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in people]
            if not last:
                authors = entry.fields.get("organization") or entry.fields.get("title", key)
                authors = authors.replace("{", "").replace("}", "")
            elif len(last) == 1:
                authors = last[0]
            elif len(last) == 2:
                authors = f"{last[0]} and {last[1]}"
            else:
                authors = f"{last[0]} et al."
            citations[key] = (authors, entry.fields.get("year", "n.d."))
    return citations


def reader_ready(notebook, *, titles=None, citations=None):
    """The notebook (an ``nbformat`` node) made reader-ready, in place; returns it.

    Every Markdown cell and Markdown output is converted by :func:`myst_to_markdown`, a figure's
    caption (in a code cell's ``mystnb.figure`` metadata) follows its cell as a Markdown cell, and
    the first cell becomes the setup cell that imports ``collapse_lib``.
    """
    import nbformat

    titles = titles or {}
    cells = []
    for i, cell in enumerate(notebook.cells):
        cells.append(cell)
        if cell.cell_type == "markdown":
            cell.source = myst_to_markdown(cell.source, titles=titles, citations=citations)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/markdown" in data:
                md = data["text/markdown"]
                md = "".join(md) if isinstance(md, list) else md
                data["text/markdown"] = myst_to_markdown(md, titles=titles, citations=citations)
        figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
        following = notebook.cells[i + 1] if i + 1 < len(notebook.cells) else None
        if (cell.cell_type == "code" and figure.get("caption")
                and not (following and CAPTION_TAG in following.get("metadata", {}).get("tags", []))):
            # the book shows the caption under the figure; a notebook would not show it at all
            number = titles.get(figure.get("name", ""))
            caption = myst_to_markdown(figure["caption"].strip(), titles=titles, citations=citations)
            cells.append(_new_cell(notebook, nbformat.v4.new_markdown_cell(
                f"**{number}.** {caption}" if number else caption, metadata={"tags": [CAPTION_TAG]})))
    notebook.cells = cells
    if not (notebook.cells and SETUP_TAG in notebook.cells[0].get("metadata", {}).get("tags", [])):
        notebook.cells.insert(0, _new_cell(notebook, nbformat.v4.new_code_cell(SETUP_SOURCE, metadata={"tags": [SETUP_TAG]})))
    return notebook


def _new_cell(notebook, cell):
    if (notebook.nbformat, notebook.nbformat_minor) < (4, 5):
        cell.pop("id", None)                              # cell ids are valid from nbformat 4.5 on
    return cell


# --------------------------------------------------------------------------------------------
# The Sphinx extension
# --------------------------------------------------------------------------------------------

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
    import nbformat

    citations = build_citations(app)
    for notebook in _executed(app).rglob("*.ipynb"):
        relative = notebook.relative_to(_executed(app))
        docname = relative.with_suffix("").as_posix()
        target = Path(app.outdir) / "_notebooks" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        nb = nbformat.read(notebook, as_version=4)
        reader_ready(nb, titles=build_titles(app, docname), citations=citations)
        nbformat.validate(nb)
        nbformat.write(nb, target)


def setup(app):
    app.connect("doctree-resolved", _add_link)
    app.connect("build-finished", _copy_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
