"""The import rules that keep the parts apart, read from the source (ast), not by importing it.

- the ML core (service/forecasting) imports no web framework and nothing from the layers
  around it (schemas, store, api, use cases, serving, jobs);
- schemas import nothing from the core but its vocabulary, forecasting/spec.py (the training
  spec is part of a request) and forecasting/calendar.py (a series' dates);
- the store imports no api, schemas or use cases;
- no router imports another router;
- nothing in the service imports TensorFlow or Keras when it is imported (only inside the
  functions that train or load a Keras model), so the API process never does;
- the client imports nothing from the service;
- no two modules of the core import each other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def modules(package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((ROOT / package.replace(".", "/")).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def imports(path: Path, *, runtime_top_level: bool = False) -> set[str]:
    """Every module the file imports, anywhere in it; or only those a plain `import` of the
    module runs (top level, outside `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = _top_level(tree.body) if runtime_top_level else ast.walk(tree)
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _top_level(body: list[ast.stmt]) -> Iterator[ast.AST]:
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.If | ast.Try | ast.With):
            inner = [n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt)]
            yield from _top_level(inner)
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


EXCEPTIONS: dict[str, tuple[str, ...]] = {}  # none: every module keeps the rules


def violations(
    package: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()
) -> list[str]:
    return [
        f"{module} imports {target}"
        for module, path in modules(package)
        for target in sorted(imports(path))
        if within(target, forbidden) and not within(target, allowed + EXCEPTIONS.get(module, ()))
    ]


RULES = {
    "core": (
        "service.forecasting",
        (
            "fastapi",
            "starlette",
            "service.schemas",
            "service.store",
            "service.api",
            "service.usecases",
            "service.serving",
            "service.jobs",
        ),
        (),
    ),
    "schemas": (
        "service.schemas",
        ("service.forecasting",),
        ("service.forecasting.spec", "service.forecasting.calendar"),
    ),
    "store": ("service.store", ("service.api", "service.schemas", "service.usecases"), ()),
    "client": ("forecast_client", ("service",), ()),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_import_rule_holds(rule: str) -> None:
    package, forbidden, allowed = RULES[rule]
    assert violations(package, forbidden, allowed) == []


def test_no_router_imports_another_router() -> None:
    routers = {name for name, _ in modules("service.api.routes") if not name.endswith("routes")}
    found = [
        f"{name} imports {target}"
        for name, path in modules("service.api.routes")
        for target in imports(path)
        if within(target, tuple(routers - {name}))
    ]
    assert found == []


def test_nothing_imports_tensorflow_when_it_is_imported() -> None:
    heavy = ("tensorflow", "keras", "tf2onnx")
    found = [
        f"{name} imports {target} at import time"
        for name, path in modules("service")
        for target in imports(path, runtime_top_level=True)
        if within(target, heavy)
    ]
    assert found == []


def test_the_core_has_no_import_cycle() -> None:
    """auto compares candidates that pipeline trains: neither imports the other both ways
    (what they share, the trained result, is forecasting/trained.py)."""
    core = dict(modules("service.forecasting"))
    graph = {
        name: {t for t in imports(path) if t in core and t != name} for name, path in core.items()
    }
    cycles = [
        f"{a} <-> {b}" for a in sorted(graph) for b in sorted(graph[a]) if a < b and a in graph[b]
    ]
    assert cycles == []
    assert "service.forecasting.pipeline" not in graph["service.forecasting.auto"]


def test_the_rules_see_a_violation(tmp_path: Path) -> None:
    """The walker finds imports at any depth, so a rule cannot pass by reading nothing."""
    source = tmp_path / "bad.py"
    source.write_text(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import fastapi\n"
        "if TYPE_CHECKING:\n    import keras\n"
        "def f() -> None:\n    from service.store.local import ModelStore\n"
    )
    assert {"fastapi", "keras", "service.store.local"} <= imports(source)
    assert "keras" not in imports(source, runtime_top_level=True)
    assert "service.store.local" not in imports(source, runtime_top_level=True)
    assert violations("service.forecasting", ("numpy",))  # the core does use numpy
