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
