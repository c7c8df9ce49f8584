"""Independent checks of records: the test's own arithmetic, not the code under test."""
import math

ITEMSIZE = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int32": 4, "int8": 1}
SPLIT = {"all_gather", "reduce_scatter", "all_to_all"}  # chunked per rank, 4-element aligned


def factor(collective, p):
    if collective == "all_reduce":
        return 2 * (p - 1) / p
    if collective in SPLIT:
        return (p - 1) / p
    return 1.0


def expected_size(collective, requested, p, itemsize):
    count = requested // itemsize
    if collective in SPLIT:
        return (count // (4 * p)) * 4 * p * itemsize
    return count * itemsize


def check_record(rec, requested_sizes):
    """Assert one ok record is self-consistent; returns the requested size it came from."""
    p, item = rec["nranks"], ITEMSIZE[rec["dtype"]]
    assert rec["status"] == "ok", rec
    assert rec["n_wrong"] == 0
    matches = [s for s in requested_sizes if expected_size(rec["collective"], s, p, item) == rec["size_bytes"]]
    assert matches, (rec["collective"], rec["size_bytes"], p)
    assert rec["count"] * item == rec["size_bytes"]
    t = rec["time_us_mean"]
    assert 0 < rec["time_us_min"] <= rec["time_us_median"] <= rec["time_us_max"]
    assert rec["time_us_min"] <= t <= rec["time_us_max"]
    assert rec["time_us_p99"] <= rec["time_us_max"] + 1e-3
    algbw = rec["size_bytes"] / (t * 1e-6) / 1e9
    assert math.isclose(rec["algbw_gbps"], algbw, rel_tol=1e-9)
    assert math.isclose(rec["busbw_gbps"], algbw * factor(rec["collective"], p), rel_tol=1e-9)
    return matches[0]
