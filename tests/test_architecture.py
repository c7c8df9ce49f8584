"""ARCHITECTURE.md stays true: the packages it names exist and every package is named,
the imports go the way it says, and no function in benchmarks/ is longer than 60 lines."""
import ast
import re
from pathlib import Path

from conftest import REPO

ROOT = Path(REPO)
MAP = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
TOP = ("collectives", "benchmarks", "reports", "slurm")
DRIVERS = ("benchmarks.cli", "benchmarks.selfbench")
MAX_FUNCTION_LINES = 60


def _packages() -> set[str]:
    """Every folder with an __init__.py under the top-level packages, as a/b/."""
    return {str(init.parent.relative_to(ROOT)) + "/" for top in TOP for init in (ROOT / top).rglob("__init__.py")}


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules `path` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_every_package_named_in_the_map_exists_and_every_package_is_named():
    named = {m for m in re.findall(r"`((?:collectives|benchmarks|reports|slurm|tests)/(?:[a-z_]+/)*)`", MAP)}
    assert named, "ARCHITECTURE.md names no package"
    missing = sorted(p for p in named if not (ROOT / p).is_dir())
    assert not missing, f"ARCHITECTURE.md names packages that do not exist: {missing}"
    unnamed = sorted(_packages() - named)
    assert not unnamed, f"packages ARCHITECTURE.md does not describe: {unnamed}"


def test_imports_go_the_way_the_map_says():
    wrong = []
    for path in (p for top in TOP for p in (ROOT / top).rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for name in _imports(path):
            if module.startswith("collectives") and name.split(".")[0] in ("benchmarks", "reports"):
                wrong.append(f"{module} imports {name}")
            if module.startswith("reports") and name.split(".")[0] == "benchmarks":
                wrong.append(f"{module} imports {name}")
            below = module.startswith("benchmarks.") and not module.startswith(DRIVERS) and \
                module.count(".") > 1
            if below and name.startswith(DRIVERS):
                wrong.append(f"{module} imports {name}")
    assert not wrong, wrong


def test_no_function_in_benchmarks_is_longer_than_60_lines():
    long = []
    for path in (ROOT / "benchmarks").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def test_the_import_check_sees_relative_imports():
    """The check above can fail: a relative import from a package below cli/ resolves to cli."""
    probe = ROOT / "benchmarks" / "sweep" / "plan.py"
    assert "benchmarks.errors" in _imports(probe) and "benchmarks.sweep.harness" in _imports(probe)
