"""Collective specs against an independent numpy model of each collective.

The reference below computes what each rank must hold after the collective from all
ranks' inputs, without using the spec's `expected`; the spec must agree, and a
collective that did nothing must be caught by the check.
"""
import numpy as np
import pytest

from collectives.dtypes import DTYPES
from collectives.registry import COLLECTIVES, get_collective
from collectives.spec import SENTINEL, build_buffers, count_wrong

# busbw factors written out by hand from nccl-tests doc/PERFORMANCE.md, for p = 4 and 8.
FACTORS = {
    "all_reduce": {4: 1.5, 8: 1.75}, "all_gather": {4: 0.75, 8: 0.875},
    "reduce_scatter": {4: 0.75, 8: 0.875}, "all_to_all": {4: 0.75, 8: 0.875},
    "broadcast": {4: 1.0, 8: 1.0}, "reduce": {4: 1.0, 8: 1.0}, "sendrecv": {4: 1.0, 8: 1.0},
}
OPS = {"sum": np.sum, "max": np.max, "min": np.min}


def test_registry_has_the_seven_collectives_and_rejects_unknown_names():
    assert set(COLLECTIVES) == set(FACTORS)
    with pytest.raises(KeyError, match="unknown collective 'allreduce'"):
        get_collective("allreduce")


@pytest.mark.parametrize("name", sorted(FACTORS))
@pytest.mark.parametrize("p", [4, 8])
def test_busbw_factor(name, p):
    assert get_collective(name).busbw_factor(p) == pytest.approx(FACTORS[name][p])


@pytest.mark.parametrize("name, size, p, itemsize, send, recv, size_bytes", [
    ("all_reduce", 1000, 4, 4, 250, 250, 1000),
    ("broadcast", 1002, 4, 4, 250, 250, 1000),
    ("all_gather", 1000, 4, 4, 60, 240, 960),         # 250 elements -> 4 x (250 // 16 * 4)
    ("reduce_scatter", 1000, 4, 4, 240, 60, 960),
    ("all_to_all", 1 << 20, 8, 2, 1 << 19, 1 << 19, 1 << 20),
    ("sendrecv", 8, 2, 8, 1, 1, 8),
    ("all_gather", 32, 4, 4, 0, 0, 0),                # too small: nothing per rank
])
def test_layout_follows_nccl_tests_size_semantics(name, size, p, itemsize, send, recv, size_bytes):
    layout = get_collective(name).layout(size, p, itemsize)
    assert (layout.send_numel, layout.recv_numel, layout.size_bytes) == (send, recv, size_bytes)
    assert layout.count == size_bytes // itemsize


def reference(name, sends, op, root):
    """What each rank holds after the collective, from every rank's send buffer."""
    p = len(sends)
    if name in ("all_reduce", "reduce"):
        total = OPS[op](np.stack(sends), axis=0)
        return [total if (name == "all_reduce" or r == root) else None for r in range(p)]
    if name == "reduce_scatter":
        total = OPS[op](np.stack(sends), axis=0)
        return list(np.split(total, p))
    if name == "all_gather":
        return [np.concatenate(sends)] * p
    if name == "all_to_all":
        chunks = [np.split(s, p) for s in sends]
        return [np.concatenate([chunks[k][r] for k in range(p)]) for r in range(p)]
    if name == "broadcast":
        return [sends[root]] * p
    if name == "sendrecv":
        return [sends[(r - 1) % p] for r in range(p)]
    raise AssertionError(name)


@pytest.mark.parametrize("name", sorted(FACTORS))
@pytest.mark.parametrize("p", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("op", ["sum", "max", "min"])
def test_expected_output_matches_an_independent_model(name, p, op):
    spec = get_collective(name)
    layout = spec.layout(4096, p, 4)
    sends = [spec.inputs(r, p, layout, op)[0].astype(np.float64) for r in range(p)]
    want = reference(name, sends, op, spec.root)
    for r in range(p):
        expected = spec.expected(r, p, layout, op)
        if want[r] is None:
            assert expected is None
            continue
        assert count_wrong(want[r], expected) == 0
        # the check can fail: an untouched output buffer is wrong everywhere it is checked
        untouched = spec.inputs(r, p, layout, op)[1]
        assert count_wrong(untouched, expected) == expected.size


@pytest.mark.parametrize("name", ["all_reduce", "reduce_scatter", "reduce"])
@pytest.mark.parametrize("op", ["sum", "max", "min"])
def test_reduction_check_catches_a_missing_rank_and_a_no_op(name, op):
    spec, p = get_collective(name), 4
    layout = spec.layout(4096, p, 4)
    sends = [spec.inputs(r, p, layout, op)[0].astype(np.float64) for r in range(p)]
    missing_one = reference(name, sends[:3] + [sends[0]], op, 0)  # rank 3's data replaced
    expected = spec.expected(0, p, layout, op)
    assert count_wrong(missing_one[0], expected) > 0
    own = sends[0][: expected.size]
    assert count_wrong(own, expected) > 0


def test_values_are_exact_in_every_dtype():
    import torch
    for name in ("all_reduce", "all_to_all", "all_gather"):
        spec = get_collective(name)
        layout = spec.layout(1 << 16, 8, 1)
        for r in range(8):
            for values in spec.inputs(r, 8, layout, "sum"):
                for dtype in DTYPES:
                    converted = torch.from_numpy(values).to(getattr(torch, dtype)).to(torch.float64).numpy()
                    assert np.array_equal(converted, values), (name, dtype)


def test_in_place_buffers_alias_as_declared():
    gather = get_collective("all_gather")
    layout = gather.layout(1024, 4, 4)
    send, recv = build_buffers(gather, layout, 2, 4, "sum", True, lambda v: v.astype(np.float32))
    assert np.shares_memory(send, recv)
    assert np.array_equal(recv[2 * layout.send_numel: 3 * layout.send_numel], send)
    assert (recv[: layout.send_numel] == SENTINEL).all()
    scatter = get_collective("reduce_scatter")
    layout = scatter.layout(1024, 4, 4)
    send, recv = build_buffers(scatter, layout, 1, 4, "sum", True, lambda v: v.astype(np.float32))
    assert np.shares_memory(send, recv) and recv.size == layout.recv_numel
    with pytest.raises(ValueError, match="no in-place form"):
        build_buffers(get_collective("all_to_all"), layout, 0, 4, "sum", True, np.asarray)
