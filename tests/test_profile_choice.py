"""COLLAPSE_PROFILE replaces a chapter's default profile, never one passed explicitly (papermill)."""

import nbformat
import papermill
import pytest

from collapse_lib.profiles import profile_from_env
from collapse_lib.validation import SettingError


def _notebook():
    parameters = nbformat.v4.new_code_cell('profile = "book"\nseed = 0')
    parameters.metadata["tags"] = ["parameters"]
    chosen = nbformat.v4.new_code_cell("import collapse_lib as cl\nprint('CHOSEN', cl.profile_from_env(profile))")
    notebook = nbformat.v4.new_notebook(cells=[parameters, chosen])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def _chosen(executed) -> str:
    text = "".join(out.get("text", "") for out in executed.cells[-1].outputs)
    return text.split("CHOSEN ")[1].split()[0]


@pytest.mark.parametrize("parameters, expected", [({}, "smoke"), ({"profile": "book"}, "book"),
                                                  ({"profile": "paper"}, "paper")])
def test_an_explicit_papermill_profile_beats_the_environment(parameters, expected, monkeypatch, tmp_path):
    monkeypatch.setenv("COLLAPSE_PROFILE", "smoke")
    executed = papermill.execute_notebook(_notebook(), str(tmp_path / "out.ipynb"), parameters=parameters,
                                          kernel_name="python3", progress_bar=False)
    assert _chosen(executed) == expected


def test_outside_a_kernel(monkeypatch, capsys):
    monkeypatch.setenv("COLLAPSE_PROFILE", "smoke")
    assert profile_from_env("book") == "smoke" and "from COLLAPSE_PROFILE" in capsys.readouterr().out
    assert profile_from_env("paper") == "paper" and "is ignored" in capsys.readouterr().out
    monkeypatch.setenv("COLLAPSE_PROFILE", "huge")
    with pytest.raises(SettingError, match="COLLAPSE_PROFILE 'huge'"):
        profile_from_env("book")
