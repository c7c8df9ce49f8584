"""The data check must be able to fail: corrupt one rank's result in a real gloo run."""
import json
import subprocess
import sys
import textwrap

import pytest

from benchmarks.host.detect import free_port
from conftest import REPO, read_records

pytestmark = pytest.mark.slow  # gloo ranks

# Runs the real CLI in each rank after wrapping the torch backend's all_reduce so that,
# after the real collective, global rank 1 overwrites element 0 of its result.
CORRUPTING_RANK = textwrap.dedent("""
    import sys
    import torch.distributed as dist
    from collectives.backends import torch_dist
    real = torch_dist._CALLS["all_reduce"]
    def corrupting(send, recv, group, op, root):
        real(send, recv, group, op, root)
        if dist.get_rank() == 1:
            recv[0] = 99
    torch_dist._CALLS["all_reduce"] = corrupting
    from benchmarks.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_one_corrupted_element_on_one_rank_fails_the_point_and_the_run(tmp_path):
    out = tmp_path / "run"
    port = str(free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CORRUPTING_RANK, "run", "--collectives", "all_reduce,all_gather",
             "--sizes", "1K", "-n", "2", "--out", str(out)],
            env={"PYTHONPATH": str(REPO), "RANK": str(r), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
                 "MASTER_PORT": port, "PATH": "/usr/bin:/bin"},
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for r in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [1, 1], outputs
    by_name = {r["collective"]: r for r in read_records(out)}
    assert by_name["all_reduce"]["n_wrong"] == 1
    assert by_name["all_reduce"]["status"] == "failed"
    assert "1 wrong" in by_name["all_reduce"]["reason"]
    assert by_name["all_gather"]["n_wrong"] == 0 and by_name["all_gather"]["status"] == "ok"
    assert "DATA CHECK FAILED" in outputs[0][0]
    assert json.loads((out / "meta.json").read_text())["status"] == "complete"
