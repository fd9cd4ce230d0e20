"""The layout's rule, read from the source with ast (lazy and TYPE_CHECKING imports included):
dependencies run one way — the command (mediarescue.cli) → the features (collector, restorer) → the
shared core (mediarescue.*) and the pure decisions (policies) — and no module imports itself back
through any chain."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mediarescue", "collector", "restorer", "policies")


def _layer(module: str) -> str:
    if module.startswith("mediarescue.cli"):
        return "command"
    if module.startswith(("collector", "restorer")):
        return module.split(".")[0]
    return module.split(".")[0] if module.startswith("policies") else "core"


ALLOWED = {  # layer -> the layers it may import
    "command": {"command", "collector", "restorer", "core", "policies"},
    "collector": {"collector", "core", "policies"},
    "restorer": {"restorer", "core", "policies"},
    "core": {"core", "policies"},
    "policies": {"policies"},
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str, modules: set[str]) -> set[str]:
    """Every project module `path` imports, wherever the import statement stands. `from pkg import x`
    is an import of the module pkg.x where there is one, else of pkg."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + [base]).strip(".")
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    return {name: _imports(path, name, set(modules)) - {name} for name, path in modules.items()}


GRAPH = _graph()


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_each_module_imports_only_what_its_layer_may(module: str) -> None:
    wrong = sorted(i for i in GRAPH[module] if _layer(i) not in ALLOWED[_layer(module)])
    assert not wrong, f"{module} ({_layer(module)}) imports {wrong}: dependencies run command → features → core"


def test_no_import_cycle() -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target] if target in path else [module, target]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def test_the_rule_is_checked_on_the_real_tree() -> None:
    assert {"mediarescue.cli.main", "mediarescue.catalog.catalog", "collector.backup", "restorer.plan",
            "policies.recovery", "policies.retention"} <= set(GRAPH)
    assert "mediarescue.catalog" in GRAPH["restorer.plan"] or "mediarescue.catalog.catalog" in GRAPH["restorer.plan"]


def test_importing_the_command_changes_no_environment_and_loads_no_pywikibot() -> None:
    """pywikibot is made ready (its environment, its HTTP hooks) by the first Bot, never by an import."""
    probe = ("import os, sys; before = dict(os.environ); import mediarescue.cli.main, restorer.restore; "
             "sys.exit(0 if dict(os.environ) == before and 'pywikibot' not in sys.modules else 1)")
    assert subprocess.run([sys.executable, "-c", probe], cwd=ROOT).returncode == 0
