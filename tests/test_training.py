"""The training-step model (reports/planning/llm.py) and its plan (reports/planning/training_plan.py), checked
against cases worked by hand here: a model small enough that every term is on paper."""
import json

import pytest

from reports.planning.training_plan import Priced, plan, plan_row, pricing
from reports.present.plan_text import format_plan
from reports.planning.stated_rates import rates_model
from reports.planning.llm import (TRAINING_PRESETS, TrainingError, bubble, communications, group_shape, layout_at,
                              load_training, megatron_eq3_flops, parse_sets, training_from_dict)

# layers 2, hidden 4, heads 2, seq 8, vocab 16:
#   attention 4 x (4 + 2 x 4) + 4 x 4 = 64 parameters, MLP 2 x 4 x 16 = 128, a layer 192,
#   embeddings (untied) 2 x 16 x 4 = 128: 2 x 192 + 128 = 512 parameters
#   forward FLOPs per token: a layer 2 x (64 + 128) + 4 x 8 x 4 = 512, the logits 2 x 4 x 16 = 128
TINY = dict(layers=2, hidden=4, heads=2, seq=8, vocab=16, global_batch=8, tp=2)


def tiny(**changes):
    return training_from_dict({**TINY, **changes}, "tiny")


def test_parameters_and_flops_by_hand():
    w = tiny()
    assert w.params() == {"dense": 512, "experts": 0, "total": 512}
    assert w.layer_forward_flops_per_token() == 512
    # 8 sequences x 8 tokens = 64 tokens; 3 passes x 64 x (2 x 512 + 128)
    assert w.step_flops() == {"model": 221184, "hardware": 221184}
    # full recomputation: one more forward of the layers, 64 x 1024
    assert tiny(recompute="full").step_flops()["hardware"] == 221184 + 65536
    # selective: the attention scores again, 64 tokens x 2 layers x 4 x 8 x 4
    assert tiny(recompute="selective").step_flops()["hardware"] == 221184 + 64 * 2 * 128


def test_megatron_eq3_is_the_gpt_case_with_full_recomputation():
    # the SC'21 paper's 1T row: 128 layers, hidden 25600, batch 3072, seq 2048, vocab 51200
    w = training_from_dict(dict(layers=128, hidden=25600, heads=160, seq=2048, vocab=51200, global_batch=3072,
                                recompute="full"), "1t")
    assert w.step_flops()["hardware"] == pytest.approx(megatron_eq3_flops(3072, 2048, 128, 25600, 51200), rel=1e-12)
    assert w.params()["total"] == pytest.approx(1.009e12, rel=1e-3)  # the paper's "1008.0" billion


def test_grouped_query_gated_and_experts():
    # kv_heads 1 of 2: kv_dim 2; attention 4 x (4 + 4) + 16 = 48; gated MLP 3 x 4 x 16 = 192
    w = tiny(kv_heads=1, gated_mlp=True)
    assert w.attention_params() == 48 and w.expert_params() == 192
    # 4 experts, top 2: a layer's experts 4 x 192, the router 4 x 4; FLOPs count 2 experts per token
    m = tiny(kv_heads=1, gated_mlp=True, experts=4, top_k=2, tp=1)
    assert m.params() == {"dense": 2 * (48 + 16) + 128, "experts": 2 * 4 * 192, "total": 256 + 1536}
    assert m.layer_forward_flops_per_token() == 2 * (48 + 2 * 192) + 4 * 8 * 4


def test_layout_and_each_communication_by_hand():
    # 8 GPUs, 2 per node over 4 nodes; tp 2, pp 2 -> dp 2, micro-batches 8 / (2 x 1) = 4
    w = tiny(pp=2)
    lay = layout_at(w, 4, 2)
    assert (lay.dp, lay.microbatches, lay.problem) == (2, 4, None)
    assert bubble(w, lay) == pytest.approx(1 / 4)  # (pp - 1) / m
    comms = {(c.kind, c.collective): c for c in communications(w, lay)}
    act = 1 * 8 * 4 * 2  # micro-batch x seq x hidden x 2 bytes
    tp = comms[("tp", "all_reduce")]
    assert (tp.size_bytes, tp.count, tp.group, tp.stride) == (act, 4 * 1 * 4, 2, 1)  # 4 per layer, 1 layer a stage
    pp = comms[("pp", "sendrecv")]
    assert (pp.size_bytes, pp.count, pp.group, pp.stride) == (act / 2, 2 * 4, 2, 4)  # split over tp; fwd + bwd
    dp = comms[("dp", "all_reduce")]
    assert (dp.size_bytes, dp.count, dp.group, dp.stride) == (512 / 4 * 2, 1, 2, 2)  # this GPU's quarter, 2 bytes
    # sequence parallelism: a reduce-scatter and an all-gather of the same size for each all-reduce
    sp = {(c.kind, c.collective): c for c in communications(tiny(pp=2, sequence_parallel=True), lay)}
    assert sp[("tp", "reduce_scatter")].size_bytes == sp[("tp", "all_gather")].size_bytes == act
    assert ("tp", "all_reduce") not in sp
    # the distributed optimizer and FSDP
    z1 = [c for c in communications(tiny(pp=2, zero=1), lay) if c.kind == "dp"]
    assert [(c.collective, c.count) for c in z1] == [("reduce_scatter", 1), ("all_gather", 1)]
    z3 = [c for c in communications(tiny(pp=2, zero=3), lay) if c.kind == "dp"]
    assert [(c.collective, c.count) for c in z3] == [("all_gather", 8), ("reduce_scatter", 4)]


def test_expert_all_to_all_and_expert_gradients():
    w = tiny(tp=1, experts=4, top_k=2, ep=2, global_batch=8)
    lay = layout_at(w, 2, 2)  # dp 4, m 2
    comms = [c for c in communications(w, lay)]
    a2a = next(c for c in comms if c.kind == "ep")
    assert (a2a.collective, a2a.size_bytes, a2a.count, a2a.group) == ("all_to_all", 8 * 2 * 4 * 2, 4 * 2 * 2, 2)
    dp = [(c.size_bytes, c.group) for c in comms if c.kind == "dp"]
    # dense (2 x 64 + 2 x 16 router + 128 embeddings) x 2 bytes over dp 4; experts 2 x 4 x 128 / ep 2 over 4 / 2
    assert dp == [(288 * 2, 4), (1024 / 2 * 2, 2)]


def test_group_shapes():
    assert group_shape(8, 1, 8) == (1, 8)  # tp 8 in one node
    assert group_shape(16, 1, 8) == (2, 8)  # tp 16 over two nodes
    assert group_shape(64, 8, 8) == (64, 1)  # dp beside tp 8: one rank per node
    assert group_shape(32, 2, 8) == (8, 4)  # dp beside tp 2: four per node
    assert group_shape(2, 32, 8) == (2, 1)  # a pipeline neighbour 32 ranks away


def test_infeasible_scales_say_why():
    w = tiny(pp=2)
    assert "not a multiple of tp x pp" in layout_at(w, 3, 1).problem
    assert "smaller than dp 16" in layout_at(w, 32, 2).problem
    assert "not a multiple of dp 3" in layout_at(tiny(pp=1, global_batch=8), 3, 2).problem


RATE = 13.824e6 / 1e12  # TFLOP/s: 13.824 GFLOP/s makes the tiny step's numbers round


def stated(intra_gbps, inter_gbps):
    return {c: Priced(c, rates_model(c, intra_gbps, inter_gbps), 1.0, None)
            for c in ("all_reduce", "sendrecv", "reduce_scatter", "all_gather", "all_to_all")}


# 2 GPUs per node, tp 2 inside each node, pp 1, global batch 8: at N nodes dp = N, m = 8 / N.
#   compute per GPU 221184 / (2 N) FLOPs at 13.824 GFLOP/s = 8 / N ms
#   tp: 8 m = 64 / N all-reduces of 64 B over 2 ranks (factor 1): 4096 / (N bw_intra) s; window compute
#   dp: all-reduce of 512 B over N nodes, one rank each: 2 (N-1)/N x 512 / bw_inter; window one
#       micro-batch's compute, (8 / N) / (8 / N) = 1 ms
def test_dp_exceeds_its_window_first():
    priced = stated(1e-3, 0.6e-3)  # 1 MB/s inside the node, 0.6 MB/s across
    res = plan(tiny(), priced, RATE, RATE, 2, [1, 2, 4, 8], 1)
    r2 = res.rows[1]
    assert r2.compute_ms == pytest.approx(4.0)
    assert r2.kinds["tp"].comm_ms == pytest.approx(2.048)  # 4096 / (2 x 1e6) s
    assert r2.kinds["dp"].comm_ms == pytest.approx(1024 * 0.5 / 0.6e6 * 1e3)  # 0.853 ms
    assert r2.kinds["dp"].window_ms == pytest.approx(1.0) and r2.kinds["dp"].exposed_ms == 0
    assert r2.step_ms == pytest.approx(4.0 + 2.048)
    assert r2.tokens_per_s == pytest.approx(64 / 6.048e-3)
    assert r2.mfu == pytest.approx(4.0 / 6.048)  # model FLOPs at the rate over the step
    r4 = res.rows[2]  # dp 1024 x 0.75 / 0.6e6 = 1.28 ms over a 1 ms window: 0.28 ms exposed
    assert r4.kinds["dp"].exposed_ms == pytest.approx(0.28)
    assert r4.step_ms == pytest.approx(2.0 + 1.024 + 0.28)
    assert res.first["dp"] == {"exceeds_window_nodes": 4, "exposed_nodes": 4}
    assert res.first["tp"] == {"exceeds_window_nodes": None, "exposed_nodes": 1}  # tp 0.512 of compute


def test_tp_exceeds_its_window_first():
    priced = stated(1e-4, 0.6e-3)  # the node's links ten times slower: tp takes 5.12 x compute
    res = plan(tiny(), priced, RATE, RATE, 2, [1, 2, 4, 8], 1)
    assert res.rows[0].kinds["tp"].comm_ms == pytest.approx(40.96)
    assert res.first["tp"]["exceeds_window_nodes"] == 1
    # the network's rate is capped at the node's (0.1 MB/s): dp 1024 x 0.5 / 1e5 s = 5.12 ms at 2 nodes
    assert res.rows[1].kinds["dp"].comm_ms == pytest.approx(5.12)
    assert res.first["dp"]["exceeds_window_nodes"] == 2
    assert "tp: longer than the compute it can hide under from 1 node(s)" in format_plan(res)


def test_stated_rates_model():
    m = rates_model("all_reduce", 200, 20, intra_latency_us=2, inter_latency_us=10)
    # 8 ranks in a node: 2 x 7 steps x 2 us + 2 x 7/8 x 1e9 B / 200 GB/s
    assert m.predict_us(1e9, 1, 8) == pytest.approx(28 + 1.75e9 / 200e3)
    # 4 nodes, 2 ranks each: the network at 2 x 20 GB/s; 4 nodes of 8: 8 x 20 = 160 (under the node's 200)
    assert m.predict_us(1e9, 4, 2) == pytest.approx(140 + 1.75e9 / 40e3)
    assert m.predict_us(1e9, 4, 8) == pytest.approx(620 + 2 * 31 / 32 * 1e9 / 160e3)
    assert m.predict_us(1e9, 1, 1) == 0.0
    s = rates_model("sendrecv", 200, 20)
    assert s.predict_us(1e6, 2, 1) == pytest.approx(1e6 / 20e3)


def test_bubble_and_pipeline_by_hand():
    # pp 2 over 2 nodes of 2 GPUs, tp 2: dp 1, m 8; bubble 1/8; sendrecv of 32 B x 16 across the nodes
    priced = stated(1e-3, 0.5e-3)
    row = plan_row(tiny(pp=2), 2, 2, priced, RATE, RATE, 1)
    assert (row.dp, row.microbatches, row.bubble) == (1, 8, 1 / 8)
    assert row.kinds["pp"].comm_ms == pytest.approx(16 * 32 / 0.5e6 * 1e3)  # 1.024 ms
    assert row.compute_ms == pytest.approx(4.0)
    tp_ms = 4 * 1 * 8 * 64 / 1e6 * 1e3  # 4 per layer, 1 layer per stage, 8 micro-batches: 2.048 ms
    assert row.step_ms == pytest.approx((4.0 + tp_ms + 1.024) * (1 + 1 / 8))
    assert "dp" not in row.kinds


def test_stand_ins_price_what_was_not_measured():
    from reports.planning.pricing import CrossoverError
    only = {"all_reduce": rates_model("all_reduce", 1e-3, 1e-3)}

    def choose(fits, hier, name, backend, dtype):
        if name not in only:
            raise CrossoverError(name)
        return only[name]
    priced = pricing([], [], ["reduce_scatter", "sendrecv", "all_reduce"], None, "float32", choose)
    assert (priced["reduce_scatter"].stand_in, priced["reduce_scatter"].factor) == ("all_reduce", 0.5)
    assert (priced["sendrecv"].stand_in, priced["sendrecv"].factor) == ("all_reduce", 1.0)
    assert priced["all_reduce"].stand_in is None
    only.clear()
    with pytest.raises(CrossoverError, match="no fitted sendrecv nor a stand-in"):
        pricing([], [], ["sendrecv"], None, "float32", choose)


def test_presets_load_and_plan():
    priced = stated(200, 25)
    for name in TRAINING_PRESETS:
        w = load_training(name)
        res = plan(w, priced, 400, 989, 8, [1, 2, 4, 8, 16, 32, 64, 128], 1)
        ok = res.fitting_rows
        assert ok, name
        assert all(0 < r.mfu < 1 and r.step_ms >= r.compute_ms for r in ok), name
    assert load_training("llama3-405b").params()["total"] == pytest.approx(406e9, rel=0.01)
    assert load_training("llama3-70b").params()["total"] == pytest.approx(70.6e9, rel=0.01)
    assert load_training("llama3-8b").params()["total"] == pytest.approx(8.03e9, rel=0.01)
    assert load_training("mixtral-8x7b").params()["total"] == pytest.approx(46.7e9, rel=0.01)


def test_bad_workloads_name_the_fix(tmp_path):
    with pytest.raises(TrainingError, match="recompute 'some'"):
        tiny(recompute="some")
    with pytest.raises(TrainingError, match="missing"):
        training_from_dict({"layers": 2}, "x")
    with pytest.raises(TrainingError, match="unknown field"):
        tiny(tensor=2)
    with pytest.raises(TrainingError, match="whole number"):
        tiny(tp=1.5)
    f = tmp_path / "w.json"
    f.write_text(json.dumps({**TINY, "kind": "llm", "overlap": {"dp": 0.5}}))
    w = load_training(str(f), parse_sets(["tp=1", "overlap.tp=0.25", "sequence_parallel=true"]))
    assert (w.tp, w.overlap["dp"], w.overlap["tp"], w.sequence_parallel) == (1, 0.5, 0.25, True)
    with pytest.raises(TrainingError, match="KEY=VALUE"):
        parse_sets(["tp"])
    with pytest.raises(TrainingError, match="neither a training preset"):
        load_training("nope")


def test_network_share_of_a_group_with_fewer_ranks_per_node():
    """Measured with 8 ranks per node across nodes: a data-parallel group of 1 rank per node
    crosses through 1 of 8 NICs (priced as 8 x the bytes); with one NIC per node, all of it."""
    m = rates_model("all_reduce", 1.0, 1.0)
    pr = Priced("all_reduce", m, 1.0, None, ranks_per_node=8)
    assert pr.network_share(4, 1, rails=8) == 1 / 8
    assert pr.network_share(4, 2, rails=8) == 2 / 8
    assert pr.network_share(4, 1, rails=1) == 1.0
    assert pr.network_share(4, 8, rails=8) == 1.0 and pr.network_share(1, 1, rails=8) == 1.0
    w = tiny(tp=8, global_batch=8)  # 8 GPUs a node, tp 8: dp over nodes with 1 rank each
    row = plan_row(w, 4, 8, {c: Priced(c, rates_model(c, 1.0, 1.0), 1.0, None, 8) for c in ("all_reduce",)},
                   RATE, RATE, 1)
    call = next(c for c in row.calls if c["kind"] == "dp")
    assert call["network_share"] == 1 / 8 and call["group_nodes"] == 4 and call["ranks_per_node"] == 1
    # 512 parameters / tp 8 x 2 bytes = 128 B over 4 ranks at 1 GB/s, the share making the bytes 8 x 128
    assert call["size_bytes"] == 128
    assert call["time_us"] == pytest.approx(2 * 3 / 4 * 8 * 128 / 1e3)
