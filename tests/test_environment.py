"""The pins: one constraints file with exact versions, mirrored by environment.yml."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(lines):
    return {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
            for line in (raw.strip().lstrip("- ").strip() for raw in lines) if "==" in line and not line.startswith("#")}


def test_constraints_pin_exact_versions_of_the_key_packages():
    lines = [l for l in (ROOT / "constraints.txt").read_text().splitlines() if l and not l.startswith("#")]
    assert all("==" in l for l in lines), "every line of constraints.txt is an exact pin"
    found = pins(lines)
    assert found["torch"] == "2.13.0"
    assert found["jupyter-book"].startswith("1."), "jupyter-book 2 ignores _config.yml"
    for name in ("numpy", "scipy", "scikit-learn", "matplotlib", "papermill", "jupytext", "tqdm", "pytest"):
        assert name in found, name


#: installed by ``make venv`` with ``--no-deps`` (only its data is used), so not in environment.yml
NO_DEPS = {"cffconvert"}


def test_environment_yml_mirrors_the_constraints():
    constraints = pins((ROOT / "constraints.txt").read_text().splitlines())
    constraints = {k: v for k, v in constraints.items() if k not in NO_DEPS}
    environment = pins((ROOT / "environment.yml").read_text().splitlines())
    assert environment == constraints
