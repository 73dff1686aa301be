"""The book's configuration, citation metadata and API reference stay complete and valid."""

import importlib.util
import json
import pkgutil
import re
from pathlib import Path

import jsonschema
import yaml

import collapse_lib

ROOT = Path(__file__).resolve().parents[1]


def cff_schema() -> dict:
    """The CFF 1.2.0 JSON schema shipped in the cffconvert wheel (read as data, not imported)."""
    package = Path(importlib.util.find_spec("cffconvert").origin).parent
    return json.loads((package / "schemas" / "1.2.0" / "schema.json").read_text())


def test_citation_cff_is_valid_and_prefers_the_paper():
    schema = cff_schema()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    citation = json.loads(json.dumps(citation, default=str))  # dates as strings, as the schema expects
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(citation)
    preferred = citation["preferred-citation"]
    assert preferred["doi"] == "10.1038/s41586-024-07566-y"
    assert preferred["journal"] == "Nature"


def test_citation_cff_validator_rejects_a_broken_file():
    schema = cff_schema()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    del citation["authors"]
    assert list(jsonschema.Draft7Validator(schema).iter_errors(json.loads(json.dumps(citation, default=str))))


def test_api_reference_lists_every_module():
    listed = set(re.findall(r"automodule:: ([\w.]+)", (ROOT / "chapters" / "api.md").read_text()))
    modules = {m.name for m in pkgutil.walk_packages(collapse_lib.__path__, prefix="collapse_lib.")
               if not m.name.endswith("__main__")}
    assert "collapse_lib.experiments.gaussian" in modules
    packages_without_code = {"collapse_lib.models", "collapse_lib.datasets"}  # only re-exports
    missing = sorted(modules - listed - packages_without_code)
    assert not missing, f"add these modules to chapters/api.md: {missing}"


def test_the_build_fails_on_warnings_and_on_failing_cells():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["allow_errors"] is False
    assert config["sphinx"]["config"]["nb_execution_raise_on_error"] is True
    assert "--warningiserror" in (ROOT / "Makefile").read_text()


def test_references_have_unique_keys():
    keys = re.findall(r"^@\w+\{([^,]+),", (ROOT / "references.bib").read_text(), flags=re.M)
    assert len(keys) == len(set(keys)), "duplicate keys in references.bib"


def test_the_books_execution_cache_key_follows_the_data(tmp_path):
    """``make book`` re-executes every page when the data change (a book built offline is rebuilt once the
    data arrive): its data key differs with the data folder, its contents and the offline switch."""
    import os
    import shutil
    import subprocess

    if not shutil.which("make"):
        import pytest
        pytest.skip("no make")

    def key(**env):
        outer = ("COLLAPSE_DATA_DIR", "COLLAPSE_OFFLINE", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")  # not the outer make's
        full = {k: v for k, v in os.environ.items() if k not in outer}
        full.update(env, COLLAPSE_CACHE=str(tmp_path / "cache"))
        return subprocess.run(["make", "-s", "--eval", "k: ; @echo $(DATA_KEY)", "k"], cwd=ROOT, env=full,
                              capture_output=True, text=True, check=True).stdout.strip()

    folder = tmp_path / "data"
    (folder / "mnist").mkdir(parents=True)
    (folder / "mnist" / "a.gz").write_bytes(b"x")
    first = key(COLLAPSE_DATA_DIR=str(folder))
    assert len(first) == 16 and first == key(COLLAPSE_DATA_DIR=str(folder))
    assert key(COLLAPSE_DATA_DIR=str(folder), COLLAPSE_OFFLINE="1") != first
    (folder / "mnist" / "b.gz").write_bytes(b"yy")
    assert key(COLLAPSE_DATA_DIR=str(folder)) != first
