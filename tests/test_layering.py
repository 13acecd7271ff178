"""The layers import only downwards, and the pure layers touch no I/O, loop or clock.

Read from the source with ``ast`` (imports inside functions count too), so a violation is
caught even on a code path no other test runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "flask_realtime"

# Which of our own subpackages each layer may import ("leaf" = deadlines, exceptions, typing).
ALLOWED: dict[str, set[str]] = {
    "protocol": {"leaf", "protocol"},
    "engine": {"leaf", "protocol", "engine"},
    "server": {"leaf", "protocol", "engine", "server"},
    "adapters": {"leaf", "protocol", "engine", "server", "adapters"},
    "runtime": {"leaf", "protocol", "engine", "server", "runtime"},
}
# Standard or third-party modules that a layer must not use at all.
FORBIDDEN: dict[str, set[str]] = {
    "protocol": {"asyncio", "flask", "time", "socket", "threading", "selectors", "werkzeug"},
    "engine": {"asyncio", "flask", "time", "socket", "threading", "selectors", "werkzeug"},
    "server": {"flask", "werkzeug", "socket", "threading"},
    "adapters": {"flask", "werkzeug"},
    "runtime": {"flask"},
}


def _layer_of(module: str) -> str | None:
    """``flask_realtime.engine.socket`` -> ``engine``; the leaf modules -> ``leaf``."""
    parts = module.split(".")
    if parts[0] != "flask_realtime":
        return None
    if len(parts) == 1:
        return "top"
    if parts[1] in ALLOWED:
        return parts[1]
    if parts[1] in {"deadlines", "exceptions", "typing"}:
        return "leaf"
    return "top"


def _imports(path: Path, root: Path = PACKAGE.parent) -> list[tuple[int, str]]:
    """Absolute module names imported by ``path`` (under ``root``), relative ones resolved."""
    package_parts = list(path.relative_to(root).parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    found.extend((node.lineno, f"{module}.{a.name}") for a in node.names)
                    continue
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def _layer_files(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_downwards(layer: str) -> None:
    bad = []
    for path in _layer_files(layer):
        for lineno, module in _imports(path):
            target = _layer_of(module)
            if target is not None and target not in ALLOWED[layer]:
                bad.append(f"{path.relative_to(PACKAGE)}:{lineno} imports {module}")
    assert not bad, "imports that go up a layer:\n" + "\n".join(bad)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_avoids_forbidden_modules(layer: str) -> None:
    bad = []
    for path in _layer_files(layer):
        for lineno, module in _imports(path):
            if module.split(".")[0] in FORBIDDEN[layer]:
                bad.append(f"{path.relative_to(PACKAGE)}:{lineno} imports {module}")
    assert not bad, f"{layer}/ must not use these modules:\n" + "\n".join(bad)


def test_pure_layers_exist_and_are_checked() -> None:
    # The checks above would pass vacuously if the folders moved: pin that they are read.
    assert _layer_files("protocol"), "protocol/ has no modules"
    assert _layer_files("engine"), "engine/ has no modules"


def test_import_resolution_catches_a_violation(tmp_path: Path) -> None:
    # The resolver must see a relative import that climbs a layer, and a stdlib one.
    module = tmp_path / "flask_realtime" / "protocol" / "probe.py"
    module.parent.mkdir(parents=True)
    module.write_text("from ..engine import EngineServer\nfrom . import x\nimport asyncio\n")
    found = [m for _, m in _imports(module, tmp_path)]
    assert found == ["flask_realtime.engine", "flask_realtime.protocol.x", "asyncio"]
    assert _layer_of(found[0]) == "engine"
