"""The library's layers (README, "The library's layers"): every import inside collapse_lib goes to the same layer
or a lower one, models never import the run store, and no module below the experiments imports them."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "collapse_lib"

LAYERS = {
    "validation": 0, "spec": 0, "seeding": 0, "environment": 0,
    "datasets": 1, "store": 1, "policies": 1, "sample_sizes": 1, "sufficient_stats": 1,
    "models": 2, "metrics": 2, "theory": 2, "distributions": 2,
    "loop": 3, "profiles": 3,
    "experiments": 4,
    "cli": 5, "cluster": 5, "scorecard": 5, "plotting": 5, "__init__": 5, "__main__": 5,
}


def part(module: str) -> str:
    """The top-level part of collapse_lib a dotted module name belongs to (``collapse_lib.models.vae`` -> models)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports() -> list[tuple[str, str, int]]:
    """``(importer, imported, line)`` for every import of collapse_lib inside collapse_lib, also inside functions."""
    found = []
    for path in ROOT.rglob("*.py"):
        module = ".".join(path.with_suffix("").relative_to(ROOT.parent).parts)
        package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
                found += [(module, name, node.lineno) for name in names]
            elif isinstance(node, ast.Import):
                found += [(module, a.name, node.lineno) for a in node.names if a.name.startswith("collapse_lib")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("collapse_lib"):
                found += [(module, node.module, node.lineno)]
    return found


def test_every_module_has_a_layer():
    parts = {part(".".join(p.with_suffix("").relative_to(ROOT.parent).parts)) for p in ROOT.rglob("*.py")}
    assert parts - set(LAYERS) == set(), "add the new module to LAYERS here and to the README's picture"


def test_imports_go_down_the_layers():
    upward = [f"{a} (line {line}) imports {b}" for a, b, line in imports()
              if LAYERS[part(b)] > LAYERS[part(a)]]
    assert upward == []


@pytest.mark.parametrize("forbidden", ["store", "loop", "experiments"])
def test_models_never_import_the_store_the_loop_or_the_experiments(forbidden):
    assert [(a, line) for a, b, line in imports() if part(a) == "models" and part(b) == forbidden] == []


def test_the_check_sees_imports():
    """The scan finds the imports it judges (a check that found nothing would pass vacuously)."""
    found = {(part(a), part(b)) for a, b, _ in imports()}
    assert ("experiments", "loop") in found and ("loop", "policies") in found and ("models", "validation") in found
