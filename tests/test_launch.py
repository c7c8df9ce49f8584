import pytest

from benchmarks.errors import UsageError
from benchmarks.host.detect import detect, expand_hostlist
from benchmarks.sweep.plan import plan_groups


def test_expand_hostlist():
    assert expand_hostlist("n[1-3,5],gpu[08-10],login") == ["n1", "n2", "n3", "n5", "gpu08", "gpu09", "gpu10", "login"]
    assert expand_hostlist("node7") == ["node7"]


def test_torchrun_variables():
    env = dict(RANK="3", WORLD_SIZE="8", LOCAL_RANK="1", LOCAL_WORLD_SIZE="2", MASTER_ADDR="h0",
               MASTER_PORT="29400", TORCHELASTIC_RUN_ID="x", SLURM_PROCID="0", SLURM_STEP_NUM_TASKS="4")
    got = detect(env)
    assert (got.launcher, got.rank, got.world_size, got.local_rank, got.master_addr, got.master_port) == \
        ("torchrun", 3, 8, 1, "h0", 29400)


def test_srun_variables_derive_master_from_the_nodelist_and_job_id():
    env = dict(SLURM_PROCID="5", SLURM_STEP_NUM_TASKS="8", SLURM_LOCALID="1",
               SLURM_STEP_TASKS_PER_NODE="4(x2)", SLURM_STEP_NODELIST="gpu[07-08]", SLURM_JOB_ID="123456")
    got = detect(env)
    assert (got.launcher, got.rank, got.world_size, got.local_rank, got.local_world_size) == ("srun", 5, 8, 1, 4)
    assert (got.master_addr, got.master_port) == ("gpu07", 20000 + 123456 % 20000)


@pytest.mark.parametrize("env, rank, world", [
    (dict(PMI_RANK="2", PMI_SIZE="4", MPI_LOCALRANKID="2"), 2, 4),
    (dict(OMPI_COMM_WORLD_RANK="1", OMPI_COMM_WORLD_SIZE="2", OMPI_COMM_WORLD_LOCAL_RANK="1"), 1, 2),
])
def test_mpi_variables(env, rank, world):
    got = detect(env)
    assert (got.launcher, got.rank, got.world_size) == ("mpiexec", rank, world)


def test_standalone_is_one_rank():
    got = detect({})
    assert (got.launcher, got.rank, got.world_size) == ("standalone", 0, 1) and got.master_port > 0


@pytest.mark.parametrize("env, message", [
    (dict(RANK="x", WORLD_SIZE="2", MASTER_ADDR="a", MASTER_PORT="1"), "RANK='x' is not an integer"),
    (dict(RANK="0", WORLD_SIZE="2"), "MASTER_ADDR or MASTER_PORT"),
    (dict(RANK="2", WORLD_SIZE="2", MASTER_ADDR="a", MASTER_PORT="1"), "outside world size"),
])
def test_bad_launch_variables(env, message):
    with pytest.raises(UsageError, match=message):
        detect(env)


def test_group_plans_default_ranks_and_nodes():
    hosts = ["a"] * 4 + ["b"] * 4
    assert [p.ranks for p in plan_groups(hosts, None, None)] == [tuple(range(2)), tuple(range(4)), tuple(range(8))]
    assert [len(p.ranks) for p in plan_groups(["a"] * 6, None, None)] == [2, 4, 6]
    by_node = plan_groups(["b", "a", "b", "a"], None, (1, 2))  # hosts ordered by lowest rank: b, a
    assert [(p.ranks, p.nnodes, p.ranks_per_node) for p in by_node] == [((0, 2), 1, 2), ((0, 1, 2, 3), 2, 2)]
    uneven = plan_groups(hosts, (6,), None)[0]
    assert (uneven.nnodes, uneven.ranks_per_node) == (2, None)
    with pytest.raises(UsageError, match="launch spans 2 host"):
        plan_groups(hosts, None, (4,))
    with pytest.raises(UsageError, match="launch has 8"):
        plan_groups(hosts, (16,), None)


def test_group_plans_by_layout():
    hosts = ["a", "a", "b", "b", "c", "c", "d", "d"]  # 4 nodes x 2 ranks
    intra = plan_groups(hosts, None, None, ("intra",))
    assert [(p.ranks, p.nnodes, p.ranks_per_node) for p in intra] == [((0, 1), 1, 2)]
    inter = plan_groups(hosts, None, None, ("inter",))
    assert [(p.ranks, p.nnodes, p.ranks_per_node) for p in inter] == [((0, 2), 2, 1), ((0, 2, 4, 6), 4, 1)]
    assert [p.ranks for p in plan_groups(hosts, None, (3,), ("inter",))] == [(0, 2, 4)]
    every = plan_groups(hosts, None, None, ("intra", "inter", "full"))  # (0, 1) is measured once
    assert [len(p.ranks) for p in every] == [2, 2, 4, 4, 8]
    assert [p.nnodes for p in every] == [1, 2, 4, 2, 4]
    with pytest.raises(UsageError, match="first node holds 2"):
        plan_groups(hosts, (4,), None, ("intra",))
    with pytest.raises(UsageError, match="one rank per node"):
        plan_groups(hosts, (2,), None, ("inter",))
    with pytest.raises(UsageError, match="within one node"):
        plan_groups(hosts, None, (2,), ("intra",))
    assert [p.ranks for p in plan_groups(["a", "b"], None, None, ("intra", "inter"))] == [(0, 1)]  # no 1-rank groups
    with pytest.raises(UsageError, match="finds nothing to measure"):
        plan_groups(["a", "b"], None, None, ("intra",))
