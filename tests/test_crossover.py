"""The crossover against a case worked by hand, and the workload file forms."""
import json

from collectives.cost import PAIRWISE, RING_ALL_REDUCE
from conftest import commscale_here
from synthetic import flat_points, write_run

# Worked by hand. A ring all-reduce with alpha = 10 us and bandwidth = 10 GB/s, measured
# noise-free at 2..32 ranks. One GPU per node (p = N). Data parallel: 1e9 parameters,
# 2 bytes each, so one all-reduce of n = 2e9 B per step; 1e6 tokens per step (strong
# scaling); 100 TFLOP/s per GPU.
#   compute_s(N) = 6 x 1e9 x 1e6 / (N x 1e14)                        = 60 / N
#   comm_us(N)   = 10 x 2(N-1) + 2(N-1)/N x 2e9 / (10 x 1e3)          = 20 (N-1) + 4e5 (N-1) / N
#   comm > compute  <=>  2e-5 N (N-1) + 0.4 (N-1) > 60
#     N = 149: 0.441 + 59.2 = 59.641 (no);  N = 150: 0.447 + 59.6 = 60.047 (yes)  -> 150
#   with overlap 0.5: comm > 0.5 compute  <=>  2e-5 N (N-1) + 0.4 (N-1) > 30
#     N = 75: 0.111 + 29.6 = 29.711 (no);   N = 76: 0.114 + 30.0 = 30.114 (yes)   -> 76
#   at N = 150: compute 400 ms; comm = (20 x 149 + 4e5 x 149 / 150) us = 400.313 ms


def _hand_run(tmp_path):
    return write_run(tmp_path / "run", flat_points(RING_ALL_REDUCE, 10.0, 10.0))


def test_crossover_matches_the_case_worked_by_hand(tmp_path):
    run = _hand_run(tmp_path)
    wl = tmp_path / "dp.json"
    wl.write_text(json.dumps({"kind": "data_parallel", "params": 1e9, "bytes_per_param": 2,
                              "global_tokens": 1e6, "overlap": 0.5}))
    result = commscale_here("crossover", run, "--out", run, "--workload", wl, "--gpu-tflops", "100", "--gpus-per-node", "1",
                            "--limit", "1000", "--bootstrap", "100")
    assert result.returncode == 0, result.stderr
    res = json.loads((run / "crossover.json").read_text())
    assert res["crossover_nodes"] == 150
    assert res["hidden_crossover_nodes"] == 76
    # measured on one node only, 150 nodes cross a network no run measured: the fit is exact,
    # but the interval carries the model's error across an unmeasured tier and is wide
    lo, hi = res["crossover_nodes_ci"]
    assert lo < 100 and (hi is None or hi > 200)
    row = next(r for r in res["rows"] if r["nnodes"] == 150)
    assert row["extrapolation"] == 150 and row["model_error_pct"] > 100
    assert abs(row["compute_ms"] - 400.0) < 1e-6
    assert abs(row["comm_ms"] - (20 * 149 + 4e5 * 149 / 150) / 1e3) < 1e-3
    assert row["source"] == "extrapolated" and row["messages"] == 1 and row["bytes_per_message"] == 2e9
    # roofline: FLOPs per byte the step has vs what the fabric needs at this scale
    assert abs(row["workload_flops_per_byte"] - 6e15 / 150 / 2e9) < 1e-6
    assert abs(row["needed_flops_per_byte"] - 1e14 * row["comm_ms"] / 1e3 / 2e9) < 1e-6
    first = res["rows"][0]
    assert first["nnodes"] == 1 and first["comm_ms"] == 0  # one rank communicates nothing
    assert "communication exceeds compute from 150 node(s)" in result.stdout
    assert "extrapolated 150.0 x past the largest measured scale (1 node(s))" in result.stdout
    assert "held-out error" in result.stdout and "predicting 32 ranks from a fit on 2, 4, 8, 16" in result.stdout


def test_the_crossover_says_what_was_measured_when_nothing_can_be_held_out(tmp_path):
    """One node of 8 ranks and two nodes of 8 (16 ranks): the network tier has one node
    count, so no held-out error; one rank count alone says so too."""
    from synthetic import family_time_us
    sizes = [2 ** k for k in range(10, 28, 2)]
    pts = [(1, 8, 8, "loopback", n, family_time_us(RING_ALL_REDUCE, 8, n, 2.0, 150.0)) for n in sizes]
    pts += [(2, 16, 8, "net", n, family_time_us(RING_ALL_REDUCE, 8, n, 2.0, 150.0)
             + family_time_us(RING_ALL_REDUCE, 2, n, 8.0, 12.0)) for n in sizes]
    wl = ["--workload", "data_parallel", "--params", "1e9", "--bytes-per-param", "2", "--global-tokens", "1e6",
          "--gpu-tflops", "100", "--gpus-per-node", "8",
          "--limit", "64", "--bootstrap", "50"]
    two = write_run(tmp_path / "two", pts)
    result = commscale_here("crossover", two, *wl)
    assert result.returncode == 0, result.stderr
    assert "no held-out error: the inter_node tier is measured at one node count (2)" in result.stdout
    assert "one rank count" not in result.stdout
    one = write_run(tmp_path / "one", pts[:len(sizes)])
    result = commscale_here("crossover", one, *wl)
    assert result.returncode == 0, result.stderr
    assert "no held-out error: one rank count measured (8)" in result.stdout


def test_yaml_moe_workload_with_weak_scaling(tmp_path):
    run = write_run(tmp_path / "run", flat_points(PAIRWISE, 20.0, 5.0), collective="all_to_all")
    wl = tmp_path / "moe.yaml"
    wl.write_text("kind: moe_all_to_all\ntokens: 1.0e6\nhidden: 4096\ntop_k: 2\nbytes_per_element: 2\n"
                  "layers: 4\nflops_per_token: 1.0e9\nscaling: weak\n")
    result = commscale_here("crossover", run, "--out", run, "--workload", wl, "--gpu-tflops", "100", "--gpus-per-node", "1",
                            "--limit", "64", "--bootstrap", "20")
    assert result.returncode == 0, result.stderr
    res = json.loads((run / "crossover.json").read_text())
    assert res["workload"]["scaling"] == "weak" and res["overlap"] == 0.0 and res["collective"] == "all_to_all"
    # weak scaling: every GPU keeps 1e6 tokens; 4 all-to-alls per layer of 1e6 x 2 x 4096 x 2 bytes
    for row in res["rows"]:
        assert row["messages"] == 16 and row["bytes_per_message"] == 1e6 * 2 * 4096 * 2
        assert abs(row["compute_ms"] - 1e6 * 1e9 / 1e14 * 1e3) < 1e-6
    # pairwise: T = 20 (p-1) + (p-1)/p n / 5e3 us; at N = 2: 20 + 0.5 x 1.6384e10 / 5e3 = 1638420 us per message
    row2 = next(r for r in res["rows"] if r["nnodes"] == 2)
    assert abs(row2["comm_ms"] - 16 * 1638420 / 1e3) < 1e-3
    assert res["crossover_nodes"] == 2  # 26.2 s of all-to-all against 10 s of compute


def test_bad_workload_files_are_one_line_errors(tmp_path):
    run = _hand_run(tmp_path)
    cases = {
        "bad.json": ("{not json", "is not valid JSON"),
        "neg.json": ('{"kind": "data_parallel", "params": -1, "bytes_per_param": 2, "global_tokens": 1}',
                     "params must be a positive number"),
        "extra.json": ('{"kind": "data_parallel", "params": 1, "bytes_per_param": 2, "global_tokens": 1, "gpus": 8}',
                       "unknown field(s) gpus"),
        "kind.yaml": ("kind: pipeline\n", "workload kind 'pipeline' is unknown"),
        "tp.yaml": ("kind: tensor_parallel\ntokens: 1\nhidden: 1\nlayers: 1\nbytes_per_element: 2\n"
                    "flops_per_token: 1\nscaling: weak\n", "scaling 'weak': use strong"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        result = commscale_here("crossover", run, "--workload", tmp_path / name, "--gpu-tflops", "1")
        assert result.returncode == 2 and message in result.stderr, (name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_preset_with_compute_records_from_the_run(tmp_path):
    run = _hand_run(tmp_path)
    result = commscale_here("compute", "--out", run, "-d", "float32", "--shapes", "64", "--copy-bytes", "1M", "-n", "2")
    assert result.returncode == 0, result.stderr
    rate = max(json.loads(line)["tflops"] for line in (run / "compute.jsonl").read_text().splitlines()
               if json.loads(line)["kind"] == "gemm")
    result = commscale_here("crossover", run, "--workload", "gpt2-small-dp", "--dtype", "float32", "--limit", "16",
                            "--bootstrap", "20", "--out", run)
    assert result.returncode == 0, result.stderr
    res = json.loads((run / "crossover.json").read_text())
    assert res["compute_tflops"] == rate and res["workload"]["params"] == 124e6
    assert [r["nnodes"] for r in res["rows"]][:5] == [1, 2, 4, 8, 16]


def test_the_suggested_compute_fix_works_on_a_run_that_has_compute_rows_and_kinds_take_flags(tmp_path):
    """A dry run holds float32 GEMMs; a bf16 workload's error says to run compute -d bfloat16
    --out RUN, and that must then work in the same directory (and the crossover with it)."""
    run = _hand_run(tmp_path)
    small = ["--shapes", "64", "--copy-bytes", "1M", "-n", "2"]
    assert commscale_here("compute", "--out", run, "-d", "float32", *small).returncode == 0
    missing = commscale_here("crossover", run, "--workload", "gpt2-small-dp", "--limit", "16", "--bootstrap", "20")
    assert missing.returncode == 2
    suggested = missing.stderr.split("run '")[1].split("'")[0].replace("RUN", str(run)).split()[1:]
    assert suggested == ["compute", "-d", "bfloat16", "--out", str(run)]
    added = commscale_here(*suggested, *small)
    assert added.returncode == 0, added.stderr
    dtypes = [json.loads(line)["dtype"] for line in (run / "compute.jsonl").read_text().splitlines()]
    assert dtypes == ["float32", "uint8", "bfloat16", "uint8"]
    again = commscale_here(*suggested, *small)
    assert again.returncode == 2 and "already holds cpu GEMM rates for bfloat16" in again.stderr
    for kind in ("data_parallel", "data-parallel"):
        result = commscale_here("crossover", run, "--workload", kind, "--params", "124e6", "--bytes-per-param", "2",
                                "--global-tokens", "524288", "--limit", "16", "--bootstrap", "20", "--out", run,
                                "--force")
        assert result.returncode == 0, result.stderr
        res = json.loads((run / "crossover.json").read_text())
        assert res["workload"]["kind"] == "data_parallel" and res["workload"]["params"] == 124e6
    short = commscale_here("crossover", run, "--workload", "data_parallel", "--params", "1e9", "--limit", "16")
    assert short.returncode == 2 and "bytes_per_param must be a positive number, got None: set it " \
                                     "(--bytes-per-param" in short.stderr
