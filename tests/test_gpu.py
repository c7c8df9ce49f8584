"""GPU paths (nccl, CUDA events, CUDA graphs): run where a CUDA GPU is present, skipped
elsewhere. Not verified on the machine this was written on (no GPU there)."""
import json

import pytest

from conftest import commscale, read_records
from record_checks import check_record

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.slow,  # ranks
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

SIZES = [1024, 1 << 20, 16 << 20]


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "cuda-graph"])
def test_every_collective_on_one_gpu_with_nccl(tmp_path, graph):
    out = tmp_path / "run"
    args = ["run", "--backend", "nccl", "--sizes", "1K,1M,16M", "-n", "20", "--out", out,
            "-d", "float32,bfloat16,int8", "--collectives", "all_reduce,all_gather,reduce_scatter,all_to_all,broadcast,reduce,sendrecv"]
    result = commscale(*args, *(["--cuda-graph"] if graph else []))
    assert result.returncode == 0, result.stderr
    records = read_records(out)
    assert {r["collective"] for r in records} == {"all_reduce", "all_gather", "reduce_scatter", "all_to_all",
                                                   "broadcast", "reduce", "sendrecv"}
    for rec in records:
        assert rec["backend"] == "nccl" and rec["nranks"] == 1
        check_record(rec, SIZES)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["versions"]["nccl"] and meta["versions"]["gpus"]


def test_auto_backend_picks_nccl_with_a_gpu(tmp_path):
    result = commscale("run", "--sizes", "1K", "--collectives", "all_reduce", "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert read_records(tmp_path / "run")[0]["backend"] == "nccl"


def test_dryrun_stays_on_cpu_ranks_on_a_gpu_machine(tmp_path):
    result = commscale("dryrun", "--nproc", "2", "--sizes", "1K", "--collectives", "all_reduce", "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert read_records(tmp_path / "run")[0]["backend"] == "gloo"


def test_mpi_with_gpu_buffers_runs_or_skips_with_the_reason(tmp_path):
    """--device cuda: CUDA-aware MPI measures device buffers; any other MPI gives skips
    naming the fix (never a device pointer handed to an MPI that cannot take it)."""
    pytest.importorskip("mpi4py")
    out = tmp_path / "run"
    result = commscale("run", "--backend", "mpi", "--device", "cuda", "--sizes", "1K,1M", "-n", "5",
                       "-d", "float32", "--out", out)
    assert result.returncode == 0, result.stderr
    records = read_records(out)
    meta = json.loads((out / "meta.json").read_text())
    assert {r["device"] for r in records} == {"cuda"}
    if meta["versions"]["mpi_cuda_aware"]:
        for rec in records:
            check_record(rec, [1024, 1 << 20])
    else:
        assert {r["status"] for r in records} == {"skipped"}
        assert all("use --device cpu" in r["reason"] for r in records)


@pytest.mark.parametrize("fabric", ["pcie", "net"])
def test_a_fabric_preset_reaches_nccl_and_its_log_is_read(tmp_path, fabric):
    """One GPU: NCCL makes no connection at one rank, so the read-back finds no transport;
    what this checks is that the preset is in NCCL's environment and its log is kept."""
    out = tmp_path / "run"
    result = commscale("run", "--backend", "nccl", "--fabric", fabric, "--sizes", "1K,1M,16M",
                       "--collectives", "all_reduce", "--out", out)
    assert result.returncode == 0, result.stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["env"]["NCCL_P2P_DISABLE"] == "1" and meta["env"]["NCCL_DEBUG"] == "INFO"
    assert {r["fabric"] for r in read_records(out)} == {fabric}
    assert (out / "nccl" / "rank0.log").stat().st_size > 0
    assert meta["transport_check"][0]["problem"] is None
    assert meta["topology"] and next(iter(meta["topology"].values()))["gpu_pcie"]
