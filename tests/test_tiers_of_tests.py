"""The fast tier (`pytest -m "not slow"`, docs/testing.md) starts no process: a test module
that can start one (subprocess, the ranks' launcher, a real Slurm, mpiexec, Chromium, the
`commscale` helper that runs `python -m benchmarks`) marks its tests that do `slow`, and a
test that starts one in its own body, or takes a fixture that does (the real Slurm, a dry
run), carries the mark."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

STARTS_PROCESSES = re.compile(r"^\s*(import subprocess|from subprocess import)|\bstart_local_ranks\(|\bslurm_cluster\b"
                              r"|\bmpiexec\(|\bchromium\b|\bcommscale\(|\blocal_run\(|\brun_cli\b", re.M)
"""What in a module's text says it can start a process."""
STARTERS = {"commscale", "local_run", "mpiexec", "start_local_ranks", "run_cli"}
"""Calls that start one: the conftest helpers, test_mpi's mpiexec, the local launcher..."""
SUBPROCESS = {"run", "Popen", "call", "check_call", "check_output"}
"""... and subprocess's own, as subprocess.NAME."""
PROCESS_FIXTURES = {"slurm", "tree_slurm", "plain_slurm", "default_dryrun", "dry"}
"""Fixtures that start processes: the real Slurms, the shared dry runs."""


def _is_slow(node: ast.AST) -> bool:
    return "mark.slow" in ast.unparse(node)


def _module_is_slow(tree: ast.Module) -> bool:
    return any(isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in n.targets)
               and _is_slow(n.value) for n in tree.body)


def _starts_a_process(fn: ast.FunctionDef) -> str | None:
    """The first call in the test's own body that starts a process, or a fixture it takes that does."""
    for arg in fn.args.args:
        if arg.arg in PROCESS_FIXTURES:
            return f"the {arg.arg} fixture"
    for call in ast.walk(fn):
        if not isinstance(call, ast.Call):
            continue
        f = call.func
        if isinstance(f, ast.Name) and f.id in STARTERS:
            return f"{f.id}()"
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "subprocess" \
                and f.attr in SUBPROCESS:
            return f"subprocess.{f.attr}()"
    return None


def unmarked(source: str) -> tuple[bool, list[str]]:
    """(whether the module can start a process and has no slow mark at all, the tests that
    start one in their own body without the mark)."""
    tree = ast.parse(source)
    module_slow = _module_is_slow(tree)
    no_mark = bool(STARTS_PROCESSES.search(source)) and "pytest.mark.slow" not in source
    tests = []
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_") and not module_slow \
                and not any(_is_slow(d) for d in fn.decorator_list):
            why = _starts_a_process(fn)
            if why:
                tests.append(f"{fn.name} ({why})")
    return no_mark, tests


def _modules():
    return sorted(p for p in TESTS.glob("test_*.py") if p.name != Path(__file__).name)


def test_every_module_that_can_start_a_process_has_the_slow_mark():
    missing = [p.name for p in _modules() if unmarked(p.read_text())[0]]
    assert not missing, f"these can start processes but mark nothing slow: {missing}"


def test_every_test_that_starts_a_process_itself_is_marked_slow():
    found = {p.name: unmarked(p.read_text())[1] for p in _modules()}
    found = {name: tests for name, tests in found.items() if tests}
    assert not found, f"tests that start a process without @pytest.mark.slow: {found}"


def test_the_checks_can_fail():
    plain = "import subprocess\n\ndef test_x():\n    subprocess.run(['true'])\n"
    assert unmarked(plain) == (True, ["test_x (subprocess.run())"])
    marked = "import pytest\nimport subprocess\n\n@pytest.mark.slow\ndef test_x():\n    subprocess.run(['true'])\n"
    assert unmarked(marked) == (False, [])
    module = "import pytest\nfrom conftest import commscale\n\npytestmark = pytest.mark.slow\n\ndef test_x():\n" \
             "    commscale('run')\n"
    assert unmarked(module) == (False, [])
    mixed = "import pytest\nfrom conftest import commscale\n\n@pytest.mark.slow\ndef test_a():\n    commscale('x')\n" \
            "\ndef test_b(slurm):\n    pass\n\ndef test_c():\n    commscale('y')\n"
    assert unmarked(mixed) == (False, ["test_b (the slurm fixture)", "test_c (commscale())"])
    assert unmarked("from conftest import commscale_here\n\ndef test_x():\n    commscale_here('fit')\n") == (False, [])


@pytest.mark.parametrize("marker", ["slow", "gpu"])
def test_the_markers_are_declared(marker):
    """setup.cfg declares the markers (pytest warns on an unknown one; --strict-markers fails)."""
    cfg = (TESTS.parent / "setup.cfg").read_text()
    section = cfg.split("[tool:pytest]", 1)[1].split("\n[", 1)[0]
    assert re.search(rf"^\s+{marker}: \S", section, re.M), section
