"""The layers import only downwards, the pure layers touch no I/O, loop or clock, and no
module imports another that (directly or not) imports it back.

Read from the source with ``ast`` (imports inside functions and under ``TYPE_CHECKING``
count too), so a violation is caught even on a code path no other test runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "flask_realtime"

# Which of our own subpackages each layer may import ("leaf" = deadlines, exceptions, typing;
# "top" = the public modules: the package itself, extension, context, namespace, ...). The
# Flask machinery (binding/) and the test client (testing/) never import the public modules.
_LOWER = {"leaf", "protocol", "engine", "server", "adapters", "runtime"}
ALLOWED: dict[str, set[str]] = {
    "protocol": {"leaf", "protocol"},
    "engine": {"leaf", "protocol", "engine"},
    "server": {"leaf", "protocol", "engine", "server"},
    "adapters": {"leaf", "protocol", "engine", "server", "adapters"},
    "runtime": {"leaf", "protocol", "engine", "server", "runtime"},
    "binding": _LOWER | {"binding"},
    "testing": _LOWER | {"binding", "testing"},
}
LEAVES = {"exceptions", "typing", "deadlines"}
# Standard or third-party modules that a layer must not use at all.
FORBIDDEN: dict[str, set[str]] = {
    "protocol": {"asyncio", "flask", "time", "socket", "threading", "selectors", "werkzeug"},
    # Engine.IO knows nothing of WSGI: a handshake's environ is built on the Flask side.
    "engine": {
        "asyncio",
        "flask",
        "time",
        "socket",
        "threading",
        "selectors",
        "werkzeug",
        "wsgiref",
    },
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
    if parts[1] in LEAVES:
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


def _module_name(path: Path, root: Path = PACKAGE.parent) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _import_graph(root: Path = PACKAGE.parent) -> dict[str, set[str]]:
    """Our modules and the modules of ours each imports.

    ``from a import b`` is an edge to ``a.b`` when that is a module, else to ``a``. An edge
    from a module to a package that contains it (``from .. import x`` in ``a/b/c.py`` reaching
    ``a/__init__.py``) is left out: the natural parent/child pair, not a cycle of design.
    """
    package = root / "flask_realtime"
    modules = {_module_name(path, root): path for path in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        package_parts = name.split(".") if is_package else name.split(".")[:-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package_parts[: len(package_parts) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                candidates = [
                    f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
                    for alias in node.names
                ]
            else:
                continue
            for target in candidates:
                if target in modules and target != name and not name.startswith(target + "."):
                    targets.add(target)
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_anywhere() -> None:
    # Every layer, TYPE_CHECKING imports included: a child that needs a little of its owner
    # names it as a Protocol rather than importing the owner's module.
    cycles = _cycles(_import_graph())
    assert not cycles, "modules that import each other:\n" + "\n".join(
        " <-> ".join(cycle) for cycle in cycles
    )


def test_the_cycle_check_reads_every_layer() -> None:
    # The check above would pass vacuously if the graph missed a layer's modules.
    graph = _import_graph()
    for layer in ("engine", "server", "runtime", "binding", "testing"):
        assert any(name.startswith(f"flask_realtime.{layer}.") for name in graph), layer
    assert "flask_realtime.engine.engine_server" in graph["flask_realtime.engine"]


def test_cycle_finder_sees_a_cycle_and_ignores_a_parent(tmp_path: Path) -> None:
    package = tmp_path / "flask_realtime"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .a import A\n")
    (package / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n"
    )
    (package / "b.py").write_text("from . import a\n")
    (package / "sub" / "__init__.py").write_text("from .c import C\n")
    (package / "sub" / "c.py").write_text("from ..sub import d\nfrom .. import a\n")
    (package / "sub" / "d.py").write_text("")
    graph = _import_graph(tmp_path)
    assert graph["flask_realtime.sub.c"] == {"flask_realtime.sub.d", "flask_realtime.a"}
    assert _cycles(graph) == [["flask_realtime.a", "flask_realtime.b"]]


def test_the_public_modules_are_the_only_top_level_ones() -> None:
    # Everything else at the top is a leaf; the machinery lives in binding/ and testing/.
    public = {"__init__", "extension", "context", "namespace", "socketio_operations",
              "socketio_middlewares", "socketio_registration",
              "emitter", "cluster"}  # fmt: skip
    top = {path.stem for path in PACKAGE.glob("*.py")}
    assert top - LEAVES == public


def test_engine_knows_nothing_of_wsgi() -> None:
    # The environ of a handshake is the Flask side's business (binding/environ.py).
    bad = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in _layer_files("engine")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "wsgi" in line.lower() or "environ" in line.lower()
    ]
    assert not bad, "engine/ mentions WSGI:\n" + "\n".join(bad)
