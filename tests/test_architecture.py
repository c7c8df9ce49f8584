"""ARCHITECTURE.md stays true: the packages it names exist and every package is named,
the imports go the way it says (between the top-level packages, inside benchmarks/ and
inside reports/), no module imports a private name of another, no two modules import each
other, and no function in benchmarks/ or reports/ is longer than 60 lines."""
import ast
import re
from pathlib import Path

from conftest import REPO

ROOT = Path(REPO)
MAP = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
TOP = ("collectives", "benchmarks", "reports", "slurm")
DRIVERS = ("benchmarks.cli", "benchmarks.selfbench")
MAX_FUNCTION_LINES = 60
REPORTS_LAYERS = {
    # package under reports/ -> the packages under reports/ it may import (docs: ARCHITECTURE.md)
    "importers": set(),
    "runs": set(),
    "doctor": set(),
    "model": {"runs"},
    "planning": {"model", "runs"},
    "exports": {"model"},
    "reference": {"importers"},
    "present": {"importers", "runs", "doctor", "model", "planning", "exports", "reference"},
}
BENCHMARKS_BELOW = {
    # package under benchmarks/ -> packages under benchmarks/ it must not import
    "host": {"launch", "sweep", "doctor", "netemu", "analysis"},
    "sweep": {"launch", "doctor", "netemu", "analysis"},
}


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


def _modules(top: str):
    for path in sorted((ROOT / top).rglob("*.py")):
        yield ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"), path


def test_reports_packages_import_only_the_layers_below_them():
    wrong = []
    for module, path in _modules("reports"):
        parts = module.split(".")
        if len(parts) < 3:
            continue
        own = parts[1]
        assert own in REPORTS_LAYERS, f"{module}: reports/{own}/ has no layer in REPORTS_LAYERS (add it, and to ARCHITECTURE.md)"
        for name in _imports(path):
            other = name.split(".")
            if other[0] == "reports" and len(other) > 1 and other[1] != own and other[1] in REPORTS_LAYERS \
                    and other[1] not in REPORTS_LAYERS[own]:
                wrong.append(f"{module} imports {name}")
    assert not wrong, wrong


def test_nothing_below_the_verbs_imports_present():
    """reports/present/ (formatting, figures, the report) is read by benchmarks/ only."""
    wrong = [f"{m} imports {n}" for m, path in _modules("reports") if not m.startswith("reports.present")
             for n in _imports(path) if n.startswith("reports.present")]
    assert not wrong, wrong


def test_benchmarks_host_and_sweep_do_not_import_what_starts_them():
    wrong = []
    for module, path in _modules("benchmarks"):
        parts = module.split(".")
        if len(parts) < 2 or parts[1] not in BENCHMARKS_BELOW:
            continue
        for name in _imports(path):
            other = name.split(".")
            if other[0] == "benchmarks" and len(other) > 1 and other[1] in BENCHMARKS_BELOW[parts[1]]:
                wrong.append(f"{module} imports {name}")
    assert not wrong, wrong


def _module_imports(top: str) -> dict[str, set[str]]:
    """module -> the modules of the same tree it imports (a name imported from a package
    counts as its submodule where one exists)."""
    known = {m for top_ in TOP for m, _ in _modules(top_)}
    graph = {}
    for module, path in _modules(top):
        deps = set()
        for name in _imports(path):
            if name in known:
                deps.add(name)
            elif name.rsplit(".", 1)[0] in known:
                deps.add(name.rsplit(".", 1)[0])
        graph[module] = {d for d in deps if d != module and not module.startswith(d + ".")}
    return graph


def test_no_import_cycles_between_modules():
    cycles = []
    for top in TOP:
        graph = _module_imports(top)
        for a, deps in graph.items():
            for b in deps:
                seen, stack = set(), [b]
                while stack:
                    m = stack.pop()
                    if m == a:
                        cycles.append(f"{a} -> {b} -> ... -> {a}")
                        break
                    if m not in seen:
                        seen.add(m)
                        stack.extend(graph.get(m, ()))
    # a package's __init__ importing its own modules is not a cycle with them
    cycles = [c for c in cycles if not c.split(" -> ")[1].startswith(c.split(" -> ")[0] + ".")]
    assert not cycles, sorted(set(cycles))


def test_no_module_imports_a_private_name_of_another():
    wrong = []
    for top in TOP:
        for module, path in _modules(top):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                ours = isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] in TOP)
                if ours:
                    wrong += [f"{module}: from {'.' * node.level}{node.module or ''} import {a.name}"
                              for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    assert not wrong, wrong


def test_no_function_in_benchmarks_or_reports_is_longer_than_60_lines():
    long = []
    for path in [*(ROOT / "benchmarks").rglob("*.py"), *(ROOT / "reports").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def test_the_cycle_check_can_fail(tmp_path, monkeypatch):
    """Two modules that import each other are found (a fake tree, written here)."""
    pkg = tmp_path / "reports" / "planning"
    pkg.mkdir(parents=True)
    (tmp_path / "reports" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import x\n")
    (pkg / "b.py").write_text("def x():\n    from reports.planning.a import y\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    graph = _module_imports("reports")
    assert "reports.planning.b" in graph["reports.planning.a"] and "reports.planning.a" in graph["reports.planning.b"]


def test_the_import_check_sees_relative_imports():
    """The check above can fail: a relative import from a package below cli/ resolves to cli."""
    probe = ROOT / "benchmarks" / "sweep" / "plan.py"
    assert "benchmarks.errors" in _imports(probe) and "benchmarks.sweep.harness" in _imports(probe)
