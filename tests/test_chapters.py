"""Every chapter of the book executes at the smoke profile (papermill, jupytext in memory)."""

from pathlib import Path

import jupytext
import papermill
import pytest
from helpers import toc_files

ROOT = Path(__file__).resolve().parents[1]


def notebook_chapters():
    """Chapters that hold code cells (a jupytext/MyST notebook header)."""
    return [f for f in toc_files() if "kernelspec:" in (ROOT / f"{f}.md").read_text()]


def test_every_toc_entry_exists_and_every_chapter_is_in_the_toc():
    files = toc_files()
    for name in files:
        assert (ROOT / f"{name}.md").exists(), name
    listed = {f"{name}.md" for name in files}
    for path in (ROOT / "chapters").glob("*.md"):
        assert f"chapters/{path.name}" in listed, f"{path.name} is not in _toc.yml"
    assert len(notebook_chapters()) >= 2


@pytest.mark.parametrize("chapter", notebook_chapters())
def test_chapter_has_one_parameters_cell_and_no_outputs(chapter):
    notebook = jupytext.read(ROOT / f"{chapter}.md")
    tagged = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert 'profile = "book"' in tagged[0].source and "seed = " in tagged[0].source
    assert not list((ROOT / "chapters").glob("*.ipynb")), "no executed notebooks in chapters/"


@pytest.mark.parametrize("chapter", notebook_chapters())
def test_chapter_executes_at_smoke_profile(chapter, tmp_path):
    notebook = jupytext.read(ROOT / f"{chapter}.md")
    output = tmp_path / "executed.ipynb"
    papermill.execute_notebook(notebook, str(output), parameters={"profile": "smoke", "seed": 0},
                               kernel_name="python3", cwd=str(ROOT / "chapters"), progress_bar=False)
    executed = jupytext.read(output)
    images = sum("image/png" in out.get("data", {}) for cell in executed.cells if cell.cell_type == "code"
                 for out in cell.get("outputs", []))
    if "matplotlib" in (ROOT / f"{chapter}.md").read_text():
        assert images >= 1, "the chapter drew no figure"
    text = "".join(out.get("text", "") for cell in executed.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []) if out.get("output_type") == "stream")
    assert "smoke" in text, "the chapter should print the profile it ran at"


@pytest.mark.parametrize("chapter", notebook_chapters())
def test_no_built_page_shows_a_cells_stderr(chapter, built_book):
    """A reader sees what a cell prints, not the warnings of the libraries it imports (a path on the build
    machine, an advice to install ipywidgets): no page of the built book holds a stderr output."""
    page = (built_book / f"{chapter}.html").read_text(encoding="utf-8")
    assert "output stderr" not in page, page[page.index("output stderr"):][:600]


def test_the_vae_chapter_draws_its_bands_over_further_seeds_found_in_the_run_store(tmp_path):
    """Issue 15: at ``book`` the chapter computes one seed within its budget; seeds computed headless into the run
    store (``python -m collapse_lib run vae --seed 1-4``) join its bands and means. At ``smoke`` it computes
    seeds 0 and 1; seed 2 of both policies is put in the store beforehand, seed 3 of one policy only."""
    import os

    import collapse_lib as cl

    store = cl.RunStore(os.environ["COLLAPSE_RUNS"])  # the test's own store (conftest), which the kernel reads
    cl.run_sweep("vae", "smoke", [2], store=store)
    cl.run_experiment("vae", "smoke", 3, store=store, policy="replace")
    notebook = jupytext.read(ROOT / "chapters" / "vae.md")
    output = tmp_path / "executed.ipynb"
    papermill.execute_notebook(notebook, str(output), parameters={"profile": "smoke", "seed": 0},
                               kernel_name="python3", cwd=str(ROOT / "chapters"), progress_bar=False)
    executed = jupytext.read(output)
    text = "".join(out.get("text", "") + "".join(out.get("data", {}).get("text/markdown", ""))
                   for cell in executed.cells if cell.cell_type == "code" for out in cell.get("outputs", []))
    assert "seeds [0, 1, 2], of which [2] were found in the run store" in text  # seed 3 lacks a policy: left out
    assert "mean ratios over\n3 seeds" in text or "mean ratios over 3 seeds" in text
