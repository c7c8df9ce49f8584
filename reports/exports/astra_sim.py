"""`commscale export --to astra-sim`: ASTRA-sim's analytical network YAML (topology,
npus_count, bandwidth, latency; one Ring per dimension) whose dimension-by-dimension
collective takes the fitted time. The design and the readers checked: docs/exports.md,
"ASTRA-sim"."""
from __future__ import annotations

from collectives.registry import COLLECTIVES

from .formatting import format_ci, num
from .network import data, network, scaled, steps
from .output import GIB_GBPS_PER_GBPS, SIDE_SUFFIX, Export, alpha_notes, header_lines, side_document

NS_PER_US = 1e3


def astra_dimensions(collective: str, dims: list) -> tuple[list, list, list]:
    """(bandwidth GB/s of 1e9 B/s, latency us per hop, notes) per dimension such that
    ASTRA-sim's multi-dimensional collective reproduces the model's time: ASTRA-sim runs it
    dimension by dimension (reduce-scatter inward-out, all-gather back), so dimension k
    carries 1 / (the members of the dimensions inside it) of the buffer, on a Ring (the
    collective's first family: ring, pairwise). A hierarchical tier's term B(q) n / bw and
    alpha A(q) become that ring's; a flat tier's one ring over every rank under it, which
    commscale does not add the inner tiers to, gets what is left of its time after the
    inner dimensions' (noted)."""
    ring = COLLECTIVES[collective].families[0]
    bandwidth, latency, notes, inner, spent = [], [], [], 1, 0.0  # spent: the inner dims' time per byte
    for d in dims:
        own = data(collective, d.family, d.q) / d.bandwidth_gbps  # per byte, as the model has it
        want = own - spent if d.scales_with == "ranks" else own
        if want <= 0:
            notes.append(f"{d.name}: a flat tier faster than the dimensions inside it: exported at its own rate")
            want = own
        bw = ring.data(d.npus) / (inner * want)
        bandwidth.append(bw)
        latency.append((d.alpha_us or 0.0) * steps(collective, d.family, d.q) / max(ring.steps(d.npus), 1))
        spent += ring.data(d.npus) / (inner * bw)
        inner *= d.npus
    return bandwidth, latency, notes


def astra_sim(model: dict, collective="all_reduce", backend=None, dtype=None, nodes=None) -> Export:
    """ASTRA-sim's analytical network YAML: topology, npus_count, bandwidth (GB/s of 2^30 B),
    latency (ns), one entry per dimension; intervals as comments and in the side document."""
    net = network(model, collective, backend, dtype, nodes)
    link_gbps, hop_us, notes = astra_dimensions(collective, list(net.dims))
    bandwidth = [b * GIB_GBPS_PER_GBPS for b in link_gbps]
    latency = [x * NS_PER_US for x in hop_us]
    notes += alpha_notes(net, "latency")
    lines = ["# ASTRA-sim analytical network config (keys of astra-network-analytical's NetworkParser)",
             *(f"# {line}" for line in header_lines(net, "astra-sim")),
             f"# bandwidth: per Ring link, such that ASTRA-sim's dimension-by-dimension collective (dimension k "
             f"carrying 1 / the members inside it of the buffer) takes the fitted time: commscale GB/s (1e9 B/s) "
             f"x {GIB_GBPS_PER_GBPS:.9f} = ASTRA-sim GB/s (2^30 B/s); latency: per Ring hop, alpha x A(q) / the "
             f"ring's steps (us) x 1000 = ns",
             *(f"# dim {i} {d.name}: {d.npus} npus, alpha {'-' if d.alpha_us is None else f'{d.alpha_us:.4g}'} us "
               f"{format_ci(d.alpha_us_ci)}, bandwidth {d.bandwidth_gbps:.4g} GB/s (1e9 B/s) "
               f"{format_ci(d.bandwidth_gbps_ci)}, "
               f"scales with {d.scales_with or '-'}" for i, d in enumerate(net.dims)),
             *(f"# note: {n}" for n in list(net.notes) + notes),
             f"# intervals and notes: this file's name + {SIDE_SUFFIX}",
             f"topology: [ {', '.join('Ring' for _ in net.dims)} ]",
             f"npus_count: [ {', '.join(str(d.npus) for d in net.dims)} ]",
             f"bandwidth: [ {', '.join(num(b) for b in bandwidth)} ]  # GB/s (2^30 B/s)",
             f"latency: [ {', '.join(num(x) for x in latency)} ]  # ns"]
    exported = [{"topology": "Ring", "npus_count": d.npus, "bandwidth": b,
                 "bandwidth_ci": scaled(d.bandwidth_gbps_ci, b / d.bandwidth_gbps), "latency_ns": x,
                 "latency_ns_ci": scaled(d.alpha_us_ci, x / d.alpha_us if d.alpha_us else NS_PER_US)}
                for d, b, x in zip(net.dims, bandwidth, latency)]
    units = {"bandwidth": "GB/s of 2^30 B/s = commscale GB/s (1e9 B/s) x 1e9 / 2^30", "latency": "ns = alpha_us x 1000"}
    shape = " x ".join(f"{d.name} {d.npus}" for d in net.dims)
    return Export("\n".join(lines) + "\n", side_document(net, "astra-sim", units, exported, notes),
                  f"astra-sim: {len(net.dims)} dimension{'s' if len(net.dims) != 1 else ''} ({shape})")
