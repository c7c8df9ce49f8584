import pandas as pd

from collectives.records import make_record
from reports.present.summary_text import format_summary
from reports.runs.summary import summarize_run


def rec(collective, nranks, size, time_us, busbw, status="ok", n_wrong=0):
    return make_record(status=status, collective=collective, backend="gloo", fabric="loopback", nranks=nranks,
                       nnodes=1, size_bytes=size, time_us_median=time_us, busbw_gbps=busbw, n_wrong=n_wrong)


def test_summary_picks_smallest_size_latency_and_peak_busbw():
    df = pd.DataFrame([
        rec("all_reduce", 2, 1024, 50.0, 0.1), rec("all_reduce", 2, 1 << 20, 900.0, 2.5),
        rec("all_reduce", 2, 4 << 20, 3000.0, 2.0, status="failed", n_wrong=3),
        rec("all_reduce", 4, 1024, 80.0, 0.2),
        rec("sendrecv", 1, 1024, None, None, status="skipped"),
    ])
    s = summarize_run(df).set_index(["collective", "nranks"])
    two = s.loc[("all_reduce", 2)]
    assert (two.points_ok, two.points_failed, two.n_wrong) == (2, 1, 3)
    assert (two.min_size_bytes, two.min_size_time_us) == (1024, 50.0)
    assert (two.peak_busbw_gbps, two.peak_at_size_bytes) == (2.5, 1 << 20)
    assert s.loc[("sendrecv", 1)].points_skipped == 1 and pd.isna(s.loc[("sendrecv", 1)].peak_busbw_gbps)
    text = format_summary(summarize_run(df))
    assert "50.0 us @ 1 KiB" in text and "2.500 @ 1 MiB" in text and len(text.splitlines()) == 4
