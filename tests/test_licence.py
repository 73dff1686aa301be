"""The licences: code under MIT, text and figures under CC BY 4.0, said on every page of the book."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from helpers import toc_files
from packaging.licenses import canonicalize_license_expression
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
CC_BY = "https://creativecommons.org/licenses/by/4.0/"


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_licence_files_say_what_they_license():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    content = (ROOT / "LICENSE-CONTENT").read_text()
    assert "Creative Commons Attribution 4.0 International" in content
    assert f"{CC_BY}legalcode" in content


def test_pyproject_licence_is_a_valid_spdx_expression():
    project = pyproject()["project"]
    assert isinstance(project["license"], str), "PEP 639: an SPDX string, not the deprecated table"
    assert canonicalize_license_expression(project["license"]) == project["license"] == "MIT"
    for name in project["license-files"]:
        assert (ROOT / name).is_file(), name
    setuptools = next(Requirement(r) for r in pyproject()["build-system"]["requires"]
                      if Requirement(r).name == "setuptools")
    assert "77" in setuptools.specifier and "76.1" not in setuptools.specifier, "license strings need setuptools>=77"


def test_citation_cff_names_the_same_licence():
    assert yaml.safe_load((ROOT / "CITATION.cff").read_text())["license"] == pyproject()["project"]["license"]


def test_the_package_metadata_carries_the_licence(tmp_path):
    """setuptools writes License-Expression and License-File, and warns about nothing licence-related."""
    import setuptools

    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} predates PEP 639 (pip builds with >=77 in isolation)")
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (source / name).write_bytes((ROOT / name).read_bytes())
    (source / "collapse_lib").mkdir()
    (source / "collapse_lib" / "__init__.py").write_text("")
    script = ("import sys; from setuptools import build_meta as b; "
              "print(b.prepare_metadata_for_build_wheel(sys.argv[1]))")
    result = subprocess.run([sys.executable, "-W", "always", "-c", script, str(tmp_path)], cwd=source,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    metadata = (tmp_path / result.stdout.strip().splitlines()[-1] / "METADATA").read_text()
    assert "License-Expression: MIT" in metadata.splitlines()
    assert "License-File: LICENSE" in metadata.splitlines()
    warnings = [line for line in result.stderr.splitlines() if "licen" in line.lower() and "warn" in line.lower()]
    assert not warnings, warnings


def test_the_licence_page_is_in_the_back_matter():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    back = next(part for part in toc["parts"] if part["caption"] == "Back matter")
    assert "chapters/licence" in [entry["file"] for entry in back["chapters"]]
    assert "chapters/licence" in toc_files()
    page = (ROOT / "chapters" / "licence.md").read_text()
    for needed in ("CC BY 4.0", f"{CC_BY}legalcode", "MIT", "How to attribute", "course"):
        assert needed in page, needed


def test_every_built_page_has_the_licence_footer(built_book):
    pages = [p for p in built_book.rglob("*.html")
             if not p.relative_to(built_book).parts[0].startswith("_")  # _static, _sources, _notebooks
             and 'http-equiv="Refresh"' not in p.read_text()[:300]]  # the root's redirect
    assert len(pages) >= len(toc_files())
    for page in pages:
        html = page.read_text()
        footer = html[html.index('class="licence-footer"'):] if 'class="licence-footer"' in html else ""
        assert CC_BY in footer[:400] and "MIT" in footer[:400], f"no licence footer on {page.relative_to(built_book)}"
