"""The package's layout is its pipeline: lower floors never import higher ones.

Floors, low to high: the ground (errors, environment, model, settings), read/, check/,
send/, report/, run, then the callers (cli, the library API in __init__). Every import is
counted, the lazy ones inside functions too, since they are still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "lsimport"
FLOORS = {
    "errors": 0,
    "environment": 0,
    "model": 0,
    "settings": 0,
    "read": 1,
    "check": 2,
    "convert": 3,
    "send": 3,
    "report": 4,
    "run": 5,
    "api": 5,
    "cli": 6,
    "__main__": 6,
    "__init__": 6,
}


def _floor(module: str) -> int:
    """The floor of a dotted module name inside lsimport (its first component)."""
    parts = module.split(".")
    assert parts[0] == "lsimport", module
    if len(parts) == 1:
        return FLOORS["__init__"]
    return FLOORS[parts[1]]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("lsimport")]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("lsimport")
        ):
            found.append(str(node.module))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_floor(path: Path) -> None:
    name = _module_name(path)
    own = _floor(name.removesuffix(".__init__")) if name != "lsimport.__init__" else 6
    higher = [m for m in _imports(path) if _floor(m) > own]
    assert not higher, f"{name} (floor {own}) imports higher floors: {higher}"


def test_every_top_level_name_has_a_floor() -> None:
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    names = {n for n in names if not n.startswith((".", "_")) or n in ("__init__", "__main__")}
    names -= {"py", "schemas", "py.typed"}
    assert names <= set(FLOORS), sorted(names - set(FLOORS))


@pytest.mark.parametrize("floor", ["read", "check", "send", "report"])
def test_subpackage_inits_stay_light(floor: str) -> None:
    """`__init__` files import nothing, so validate's start-up pays only for what it uses."""
    init = PACKAGE / floor / "__init__.py"
    assert not _imports(init)
