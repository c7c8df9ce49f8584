import json

import pytest

from collectives.records import (FIELDS, RECORDS_FILE, RecordWriter, allowed_env, bandwidths,
                                 make_record, normalize, read_records, write_meta)
from reports.runs.load import load_run


def test_bandwidths_are_bytes_per_time_in_gb_per_s():
    algbw, busbw = bandwidths(1_000_000, 1000.0, 1.5)  # 1 MB in 1 ms = 1 GB/s
    assert algbw == pytest.approx(1.0) and busbw == pytest.approx(1.5)


def test_make_record_has_every_field_and_rejects_unknown_ones():
    rec = make_record(status="ok", collective="all_reduce")
    assert tuple(rec) == FIELDS and rec["schema_version"] == 1
    with pytest.raises(ValueError, match="unknown record fields"):
        make_record(status="ok", bandwidth=3)
    with pytest.raises(ValueError, match="status must be"):
        make_record(status="great")


def test_writer_flushes_each_record_before_close(tmp_path):
    writer = RecordWriter(tmp_path)
    writer.write(make_record(status="ok", size_bytes=8))
    lines = (tmp_path / RECORDS_FILE).read_text().splitlines()  # read while still open
    assert len(lines) == 1 and json.loads(lines[0])["size_bytes"] == 8
    writer.write(make_record(status="skipped", reason="x"))
    writer.close()
    assert [r["status"] for r in read_records(tmp_path / RECORDS_FILE)] == ["ok", "skipped"]
    df = load_run(tmp_path)
    assert list(df.columns) == list(FIELDS) and len(df) == 2


def test_normalize_rejects_unknown_schema_versions_and_names_the_line(tmp_path):
    with pytest.raises(ValueError, match="schema_version 99"):
        normalize({"schema_version": 99})
    path = tmp_path / RECORDS_FILE
    path.write_text(json.dumps(make_record(status="ok")) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"records.jsonl:2"):
        list(read_records(path))


def test_env_allow_list_never_keeps_secrets():
    env = {"NCCL_DEBUG": "INFO", "SLURM_JOB_ID": "7", "HOME": "/root", "AWS_SECRET_ACCESS_KEY": "x",
           "NCCL_IB_HCA": "mlx5", "SLURM_AUTH_TOKEN": "t", "CUDA_API_KEY": "k", "MASTER_ADDR": "n1",
           "GITHUB_TOKEN": "g", "TORCH_PASSWORD": "p"}
    assert allowed_env(env) == {"MASTER_ADDR": "n1", "NCCL_DEBUG": "INFO", "NCCL_IB_HCA": "mlx5", "SLURM_JOB_ID": "7"}


def test_write_meta_replaces_atomically(tmp_path):
    write_meta(tmp_path, {"status": "running"})
    write_meta(tmp_path, {"status": "complete"})
    assert json.loads((tmp_path / "meta.json").read_text()) == {"status": "complete"}
    assert not list(tmp_path.glob("*.tmp"))
