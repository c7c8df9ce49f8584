"""Loading runs back: a last line cut short by a kill is reported and skipped; any other bad
line, or an unknown schema version, is one error naming file and line (exit 2 in the CLI)."""
import json

from collectives.cost import RING_ALL_REDUCE
from conftest import commscale_here
from synthetic import flat_points, write_run


def _run(tmp_path):
    return write_run(tmp_path / "run", flat_points(RING_ALL_REDUCE, 20.0, 10.0, ranks=(2, 4), sizes=[1024 * 4 ** i for i in range(6)]))


def test_a_last_line_cut_short_is_reported_and_skipped(tmp_path):
    run = _run(tmp_path)
    path = run / "records.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]) + lines[-1][:40])  # killed mid-write: no newline, half a record
    result = commscale_here("fit", run, "--out", run, "--bootstrap", "100")
    assert result.returncode == 0, result.stderr
    assert f"{path}:{len(lines)}: the last line is cut short (the run was killed mid-write); skipped" in result.stderr
    model = json.loads((run / "model.json").read_text())
    assert sum(f["points"] for f in model["fits"]) == len(lines) - 1


def test_a_corrupt_line_elsewhere_is_an_error_naming_file_and_line(tmp_path):
    run = _run(tmp_path)
    path = run / "records.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = lines[3][:30] + "\n"
    path.write_text("".join(lines))
    for verb in (["fit", run], ["report", run, "--out", tmp_path / "report"], ["compare", run, run]):
        result = commscale_here(*verb)
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"commscale: error: {path}:4: not a JSON record ("), line
        assert "Traceback" not in result.stderr


def test_an_unknown_schema_version_is_rejected_clearly(tmp_path):
    run = _run(tmp_path)
    path = run / "records.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    rec = json.loads(lines[0])
    rec["schema_version"] = 99
    path.write_text(json.dumps(rec) + "\n" + "".join(lines[1:]))
    result = commscale_here("fit", run, "--out", run)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{path}:1: record schema_version 99 is not supported (this commscale reads 1)" in result.stderr
