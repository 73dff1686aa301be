"""Each chapter ends with the list of the ``collapse_lib`` names its code calls (as QuantEcon's lectures do).

The list is the section "Library names used in this chapter": one bullet per name, fully qualified
(``- `collapse_lib.metrics.tail_mass`: ...``). The checks read the chapter's code cells with :mod:`ast`:

(a) no code (cell or ``python`` block) imports ``collapse_lib.experiments``: chapters call public names;
(b) every name the list shows exists in the library;
(c) every ``collapse_lib`` name the code calls appears in the list, and the list shows nothing else;
(d) the section is the last one before "Exercises", or the chapter's last section when it has none.
"""

from __future__ import annotations

import ast
import importlib
import re
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ["theory", "gaussian", "gmm", "vae", "language_model", "prevention", "debate", "scorecard"]
SECTION = "## Library names used in this chapter"
EXPERIMENTS = "collapse_lib.experiments"

CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
PYTHON_BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
LISTED = re.compile(r"^- `(collapse_lib(?:\.\w+)*)`", re.M)


def cell_source(cell: str) -> str:
    """A code cell's Python: without its option block (``---`` YAML or ``:key:`` lines) and IPython magics."""
    if cell.startswith("---\n"):
        cell = cell.split("\n---\n", 1)[1]
    lines = [line for line in cell.splitlines() if not re.match(r"\s*(:\w+:|[%!])", line)]
    return "\n".join(lines) + "\n"


def resolve(path: str):
    """The object ``path`` (``collapse_lib.a.b``) names, importing submodules on the way; ``None`` if it has none."""
    parts = path.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        if hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        if not isinstance(obj, types.ModuleType):
            return None
        try:
            obj = importlib.import_module(".".join(parts[: i + 1]))
        except ImportError:
            return None
    return obj


def library_name(path: str) -> str | None:
    """The shortest prefix of an attribute chain that is not a module (``collapse_lib.metrics.X.items`` ->
    ``collapse_lib.metrics.X``), or the chain itself if it is a module; ``None`` if no such name exists."""
    parts = path.split(".")
    for i in range(2, len(parts) + 1):
        obj = resolve(".".join(parts[:i]))
        if obj is None:
            return None
        if not isinstance(obj, types.ModuleType):
            return ".".join(parts[:i])
    return path


def imports_experiments(module: str) -> bool:
    return module == EXPERIMENTS or module.startswith(EXPERIMENTS + ".")


class Calls(ast.NodeVisitor):
    """The ``collapse_lib`` names a chapter's code uses, and its imports of ``collapse_lib.experiments``."""

    def __init__(self):
        self.aliases: dict[str, str] = {}   # local name -> dotted collapse_lib path
        self.chains: set[str] = set()       # dotted paths the code uses (imports and attribute chains)
        self.experiments: list[str] = []    # offending imports or uses

    def visit_Import(self, node):
        for alias in node.names:
            if alias.name.split(".")[0] != "collapse_lib":
                continue
            if imports_experiments(alias.name):
                self.experiments.append(f"import {alias.name}")
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                self.aliases["collapse_lib"] = "collapse_lib"

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if module.split(".")[0] != "collapse_lib":
            return
        for alias in node.names:
            path = f"{module}.{alias.name}"
            if imports_experiments(module) or imports_experiments(path):
                self.experiments.append(f"from {module} import {alias.name}")
            self.aliases[alias.asname or alias.name] = path
            self.chains.add(path)

    def generic_visit(self, node):
        for child in ast.iter_child_nodes(node):
            child.parent = node
        super().generic_visit(node)

    def visit_Attribute(self, node):
        self._chain(node)
        self.generic_visit(node)

    def visit_Name(self, node):
        self._chain(node)

    def _chain(self, node):
        parent = getattr(node, "parent", None)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            return  # not the longest chain
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            path = ".".join([self.aliases[node.id]] + parts[::-1])
            self.chains.add(path)
            if imports_experiments(path):
                self.experiments.append(f"uses {path}")


def sections(text: str) -> list[str]:
    return re.findall(r"^## (.+?)\s*$", text, re.M)


def problems(text: str) -> list[str]:
    """Everything wrong with a chapter's list of library names (empty when all is well)."""
    out = []
    calls = Calls()
    code = "".join(cell_source(cell) for cell in CODE_CELL.findall(text))
    calls.visit(ast.parse(code))
    for block in PYTHON_BLOCK.findall(text):
        other = Calls()
        other.visit(ast.parse(block))
        calls.experiments += [f"{use} (in a python block)" for use in other.experiments]
    out += [f"(a) imports the internals of collapse_lib.experiments: {use}" for use in calls.experiments]

    called = set()
    for chain in sorted(calls.chains):
        name = library_name(chain)
        if name is None:
            out.append(f"the code uses {chain}, which the library does not have")
        elif not isinstance(resolve(name), types.ModuleType):  # a module is not a name: what the code takes from it is
            called.add(name)

    heads = sections(text)
    if SECTION[3:] not in heads:
        return out + [f"no section '{SECTION}'"]
    body = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    listed = LISTED.findall(body)
    out += [f"(b) the list shows {name}, which the library does not have" for name in listed if resolve(name) is None]
    out += [f"(c) the code calls {name}, which the list does not show" for name in sorted(called - set(listed))]
    out += [f"(c) the list shows {name}, which the code does not call" for name in sorted(set(listed) - called)]
    out += [f"the list shows {name} twice" for name in sorted({n for n in listed if listed.count(n) > 1})]
    position = heads.index(SECTION[3:])
    expected = heads.index("Exercises") - 1 if "Exercises" in heads else len(heads) - 1
    if position != expected:
        out.append(f"(d) the section is section {position + 1} of {len(heads)}; it belongs "
                   + ("just before 'Exercises'" if "Exercises" in heads else "at the end"))
    return out


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_lists_the_library_names_its_code_calls(chapter):
    found = problems((ROOT / "chapters" / f"{chapter}.md").read_text(encoding="utf-8"))
    assert not found, f"chapters/{chapter}.md:\n" + "\n".join(found)


def test_no_chapter_mentions_experiment_internals():
    """Not even in prose: a reader copies what the text shows."""
    for chapter in CHAPTERS:
        text = (ROOT / "chapters" / f"{chapter}.md").read_text(encoding="utf-8")
        assert not re.search(r"collapse_lib\.experiments\.\w|cl\.experiments\.", text), chapter


CHAPTER = '''
```{code-cell} ipython3
%matplotlib inline
import collapse_lib as cl
from collapse_lib import plotting
GAMMA = cl.metrics.tail_mass(p, tails)
fig, ax = plotting.figure(1)
```

## Results

```{code-cell} ipython3
---
mystnb:
  figure:
    name: fig-x
---
cl.metrics.entropy(p).sum()
```

## Library names used in this chapter

- `collapse_lib.metrics.tail_mass`: the mass of each tail
- `collapse_lib.plotting.figure`: a figure
- `collapse_lib.metrics.entropy`: entropy in nats

## Exercises
'''


def test_the_check_passes_a_good_list_and_fails_a_bad_one():
    assert problems(CHAPTER) == []
    unlisted = CHAPTER.replace("- `collapse_lib.metrics.entropy`: entropy in nats\n", "")
    assert problems(unlisted) == ["(c) the code calls collapse_lib.metrics.entropy, which the list does not show"]
    stale = CHAPTER.replace("cl.metrics.entropy(p).sum()", "p.sum()")
    assert problems(stale) == ["(c) the list shows collapse_lib.metrics.entropy, which the code does not call"]
    missing = CHAPTER.replace("metrics.entropy`", "metrics.no_such_name`")
    assert "(b) the list shows collapse_lib.metrics.no_such_name, which the library does not have" in problems(missing)
    internal = CHAPTER.replace("from collapse_lib import plotting",
                               "from collapse_lib import plotting\nfrom collapse_lib.experiments import gmm")
    assert problems(internal) == ["(a) imports the internals of collapse_lib.experiments: "
                                  "from collapse_lib.experiments import gmm"]
    dotted = CHAPTER.replace("GAMMA = ", "x = cl.experiments.gmm.run_gmm\nGAMMA = ")
    assert any(p.startswith("(a)") for p in problems(dotted))
    solution = CHAPTER + "\n```python\nimport collapse_lib.experiments.gmm as gmm\n```\n"
    assert problems(solution) == ["(a) imports the internals of collapse_lib.experiments: "
                                  "import collapse_lib.experiments.gmm (in a python block)"]
    wrong = CHAPTER.replace("cl.metrics.tail_mass", "cl.metrics.no_such_measure")
    assert "the code uses collapse_lib.metrics.no_such_measure, which the library does not have" in problems(wrong)
    last = CHAPTER.replace("\n## Exercises\n", "\n")
    assert problems(last) == []  # no Exercises section: the list is the last section
    moved = CHAPTER.replace("\n## Exercises\n", "\n## Tail\n\n## Exercises\n")
    assert problems(moved) == ["(d) the section is section 2 of 4; it belongs just before 'Exercises'"]
    early = last + "\n## Tail\n"
    assert problems(early) == ["(d) the section is section 2 of 3; it belongs at the end"]
