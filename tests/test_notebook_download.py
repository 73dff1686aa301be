"""The chapters' notebook downloads open cleanly in Jupyter.

Jupyter renders plain Markdown, not MyST: ``_ext/executed_notebooks.py`` converts the roles and
directives of every Markdown cell when it copies the executed notebooks into ``_notebooks/``, and
puts first a code cell that imports ``collapse_lib`` (or says how to install it). The converter is
tested here on strings, construct by construct, and the build's downloads as a whole.
"""

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))

import executed_notebooks as en  # noqa: E402

convert = en.myst_to_markdown
CITATIONS = {"shumailov2024nature": ("Shumailov et al.", "2024"), "dey2024universality": ("Dey and Donoho", "2024")}
TITLES = {"theory": "Theory: the recursion", "fig-w2": "Fig. 12", "ex-halving": "Exercise 5",
          "thm-collapse": "Theorem 2", "eq-recursion": "(1)", "sec-schedules": "Growing sample sizes"}


def clean(markdown: str) -> bool:
    return not en.find_roles(markdown) and not en.find_directives(markdown)


# ---- roles ----------------------------------------------------------------------------------------

def test_cite_becomes_author_year():
    assert convert("as shown {cite}`shumailov2024nature`.", citations=CITATIONS) == "as shown (Shumailov et al. 2024)."
    assert convert("{cite}`shumailov2024nature,dey2024universality`", citations=CITATIONS) == \
        "(Shumailov et al. 2024; Dey and Donoho 2024)"
    assert convert("{cite:t}`dey2024universality` show", citations=CITATIONS) == "Dey and Donoho (2024) show"
    assert convert("{cite}`unknown2020`") == "([unknown2020])"


def test_cross_references_become_their_text():
    assert convert("see {doc}`theory`", titles=TITLES) == "see Theory: the recursion"
    assert convert("see {doc}`theory`") == "see theory"
    assert convert("{numref}`fig-w2` shows", titles=TITLES) == "Fig. 12 shows"
    assert convert("{numref}`Figure %s <fig-w2>`", titles=TITLES) == "Figure 12"
    assert convert("{ref}`the exercises <gaussian-exercises>`") == "the exercises"
    assert convert("{ref}`sec-schedules`", titles=TITLES) == "Growing sample sizes"
    assert convert("{prf:ref}`thm-collapse`", titles=TITLES) == "Theorem 2"
    assert convert("eq. {eq}`eq-recursion`", titles=TITLES) == "eq. (1)"
    assert convert("in {mod}`collapse_lib.scorecard`") == "in `collapse_lib.scorecard`"


def test_roles_shown_as_code_stay_code():
    text = "a page links with `` {ref}`vae` `` or {ref}`vae`"
    assert convert(text) == "a page links with `` {ref}`vae` `` or vae"
    assert en.find_roles(text) == ["{ref}`vae`"]
    assert en.find_roles(convert(text)) == []


# ---- directives -------------------------------------------------------------------------------------

EXERCISE = """\
(gaussian-exercises)=
## Exercises

```{exercise} When does the typical $\\hat\\sigma$ halve?
:label: ex-halving

Use (G6); check against {numref}`fig-w2`.
```

````{solution} ex-halving
:class: dropdown

By (G6), in code:

```python
r = cl.run_experiment("gaussian")
```
````

:::{exercise} Why does `np.std` keep the variance?
:label: ex-other

Body.
:::
"""


def test_exercise_and_solution():
    out = convert(EXERCISE, titles=TITLES)
    assert clean(out), out
    assert "**Exercise 5: When does the typical $\\hat\\sigma$ halve?**" in out
    assert "Use (G6); check against Fig. 12." in out
    assert "**Exercise: Why does `np.std` keep the variance?**" in out
    assert ":label:" not in out and ":class:" not in out and "(gaussian-exercises)=" not in out
    # the solution is folded in a <details> block, its code block intact
    assert re.search(r"<details>\s*<summary><b>Solution</b></summary>\s+By \(G6\)", out)
    assert '```python\nr = cl.run_experiment("gaussian")\n```\n\n</details>' in out


def test_math_directive_and_labelled_dollar_math():
    out = convert("```{math}\n:label: eq-recursion\n\nx_{i+1} = f(x_i)\n```\n", titles=TITLES)
    assert out.split() == ["$$", "x_{i+1}", "=", "f(x_i)", "\\tag{1}", "$$"]
    out = convert("$$\nx = 1\n$$ (eq-recursion)\n", titles=TITLES)
    assert out == "$$\nx = 1\n\\tag{1}\n$$\n"
    assert convert("$$\nx = 1\n$$ (eq-unknown)\n") == "$$\nx = 1\n$$\n"


def test_theorem_and_proof():
    out = convert("```{prf:theorem} Gaussian model collapse\n:label: thm-collapse\n\nStatement.\n```\n\n"
                  "```{prf:proof}\nBecause.\n```\n", titles=TITLES)
    assert clean(out)
    assert "**Theorem 2 (Gaussian model collapse).**" in out and "Statement." in out
    assert "*Proof.*" in out and "Because." in out


def test_admonitions_figures_and_code():
    out = convert(":::{admonition} Reproduce this chapter\n:class: tip\n\nRun:\n\n```bash\nmake book\n```\n:::\n")
    assert clean(out)
    assert out.startswith("> **Reproduce this chapter**") and "> ```bash\n> make book\n> ```" in out
    out = convert("```{note}\nA {cite}`shumailov2024nature` note.\n```\n", citations=CITATIONS)
    assert out.startswith("> **Note**") and "(Shumailov et al. 2024)" in out
    out = convert("```{figure} img/w2.png\n:name: fig-w2\n:alt: W2\n\nThe distance.\n```\n", titles=TITLES)
    assert out.startswith("![W2](img/w2.png)") and "*Fig. 12: The distance.*" in out
    assert convert("```{code-block} python\nx = 1\n```\n").startswith("```python\nx = 1\n```")
    out = convert("```{bibliography}\n```\n")
    assert clean(out) and out.strip()


def test_unknown_directives_are_readable():
    out = convert("```{some-new-directive} A title\n:option: 1\n\nSome {doc}`theory`.\n```\n")
    assert clean(out)
    assert "**A title**" in out and "Some theory." in out and ":option:" not in out


def test_definition_list_becomes_a_list():
    out = convert("Two ways:\n\n*Replace*\n: fresh samples\n  every time.\n\n*Accumulate*\n: keep {cite}`x`.\n")
    assert "- **Replace**: fresh samples\n  every time." in out
    assert "- **Accumulate**: keep ([x])." in out


def test_plain_markdown_and_code_blocks_are_untouched():
    text = "# Title\n\nSome *text*, `code`, $x^{2}$ and a [link](https://example.org).\n\n```python\nprint('{cite}`x`')\n```\n"
    assert convert(text) == text


def test_clean_detects_what_the_converter_must_remove():
    assert not clean("see {numref}`fig-w2`")
    assert not clean("```{exercise} Title\nbody\n```")
    assert not clean(":::{note}\nbody\n:::")
    assert clean("```python\n{cite}`x`\n```")


# ---- a whole notebook -----------------------------------------------------------------------------------

def small_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# T\n\nSee {doc}`theory`."),
                nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.v4.new_output(
                    "display_data", data={"text/markdown": "as in {numref}`fig-w2`", "text/plain": "x"})]),
                nbformat.v4.new_markdown_cell(EXERCISE)]
    return nb


def test_reader_ready_notebook():
    nb = en.reader_ready(small_notebook(), titles=TITLES)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "code" and en.SETUP_TAG in first.metadata["tags"]
    assert "import collapse_lib" in first.source and "pip install -e ." in first.source
    assert [c.cell_type for c in nb.cells[1:]] == ["markdown", "code", "markdown"]
    assert all(clean(c.source) for c in nb.cells if c.cell_type == "markdown")
    assert nb.cells[2].outputs[0].data["text/markdown"] == "as in Fig. 12"
    again = en.reader_ready(nb, titles=TITLES)
    assert sum(en.SETUP_TAG in c.metadata.get("tags", []) for c in again.cells) == 1


def test_a_figure_caption_follows_its_cell():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("plot()", metadata={"mystnb": {"figure": {
        "caption": "The distance, as in {numref}`fig-w2`.\n", "name": "fig-w2"}}}),
        nbformat.v4.new_code_cell("x = 1")]
    nb = en.reader_ready(nb, titles=TITLES)
    nbformat.validate(nb)
    assert [c.cell_type for c in nb.cells] == ["code", "code", "markdown", "code"]
    assert nb.cells[2].source == "**Fig. 12.** The distance, as in Fig. 12."
    assert len(en.reader_ready(nb, titles=TITLES).cells) == 4          # not added twice
    untitled = en.reader_ready(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "plot()", metadata={"mystnb": {"figure": {"caption": "A figure."}}})]))
    assert untitled.cells[-1].source == "A figure."


def test_setup_cell_runs_and_explains_a_missing_library(tmp_path):
    import subprocess

    fake = tmp_path / "collapse_lib.py"
    fake.write_text("raise ImportError('not installed')\n")
    result = subprocess.run([sys.executable, "-c", en.SETUP_SOURCE], cwd=tmp_path, capture_output=True,
                            text=True, env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0 and "pip install -e ." in result.stdout
    result = subprocess.run([sys.executable, "-c", en.SETUP_SOURCE], capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert result.returncode == 0 and result.stdout == "", result.stderr


# ---- the built book's downloads ------------------------------------------------------------------------


def test_every_executed_chapter_is_offered_as_a_notebook(built_book):
    executed = sorted(p.relative_to(built_book.parent / "jupyter_execute")
                      for p in (built_book.parent / "jupyter_execute").rglob("*.ipynb"))
    downloads = sorted(p.relative_to(built_book / "_notebooks") for p in (built_book / "_notebooks").rglob("*.ipynb"))
    assert executed and downloads == executed


def test_downloaded_notebooks_are_reader_ready(built_book):
    notebooks = sorted((built_book / "_notebooks").rglob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        first = nb.cells[0]
        assert first.cell_type == "code" and "import collapse_lib" in first.source, f"{path.name}: no setup cell"
        assert sum(en.SETUP_TAG in c.metadata.get("tags", []) for c in nb.cells) == 1
        for cell in nb.cells:
            texts = [cell.source] if cell.cell_type == "markdown" else []
            texts += ["".join(o.get("data", {}).get("text/markdown", "")) for o in cell.get("outputs", [])]
            for text in texts:
                assert not en.find_roles(text), f"{path.name}: MyST roles left: {en.find_roles(text)[:3]}"
                assert not en.find_directives(text), f"{path.name}: MyST directives left: {en.find_directives(text)[:3]}"
                assert not re.search(r"^\s*\([^()\s]+\)=\s*$", text, re.M), f"{path.name}: a MyST target left"
        source = (ROOT / path.relative_to(built_book / "_notebooks")).with_suffix(".md").read_text(encoding="utf-8")
        exercises = len(re.findall(r"^[`:]{3,}\{exercise\}", source, re.M))
        markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert len(re.findall(r"^\*\*Exercise \d+: ", markdown, re.M)) == exercises, f"{path.name}: exercises lost"
        assert markdown.count("<summary><b>Solution</b></summary>") == exercises, f"{path.name}: solutions lost"
        figures = [c for c in nb.cells if c.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("caption")]
        captions = [c for c in nb.cells if en.CAPTION_TAG in c.get("metadata", {}).get("tags", [])]
        assert len(captions) == len(figures), f"{path.name}: a figure without its caption"
        assert all(re.match(r"\*\*Fig\. \d+\.\*\* ", c.source) for c in captions), f"{path.name}: a caption without its number"


def test_a_role_broken_over_two_lines_is_converted():
    out = convert("see {ref}`the\nexercises <gaussian-exercises>` and {numref}`fig-w2`", titles=TITLES)
    assert out == "see the\nexercises and Fig. 12"
