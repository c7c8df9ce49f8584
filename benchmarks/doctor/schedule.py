"""Rounds of disjoint node pairs, so every pair of a round is measured at the same time and
no node is in two transfers at once.

All pairs of N nodes fit N-1 rounds (N even; N rounds with one node resting each round
when N is odd): the circle method of a round-robin tournament, node 0 fixed and the
others rotating. Beyond `ALL_PAIRS_UP_TO` nodes the rounds are sampled: a node's capacity
needs a handful of healthy partners, not all of them (each round gives every node one
partner), while a link between two nodes is only seen if the pair is measured; doctor.json
says how many pairs were measured out of how many.
"""
from __future__ import annotations

import random

ALL_PAIRS_UP_TO = 32
"""Every pair is measured up to this many nodes (31 rounds)."""
SAMPLED_ROUNDS = 16
"""Rounds measured beyond it: 16 partners per node, a cost that does not grow with N."""


def all_rounds(n: int) -> list[list[tuple[int, int]]]:
    """Every pair of nodes 0..n-1 exactly once, in rounds of disjoint pairs (a < b)."""
    if n < 2:
        return []
    ring = list(range(n)) + ([None] if n % 2 else [])
    m = len(ring)
    rounds = []
    for _ in range(m - 1):
        pairs = [(ring[i], ring[m - 1 - i]) for i in range(m // 2)]
        rounds.append(sorted(tuple(sorted(p)) for p in pairs if None not in p))
        ring = [ring[0], ring[-1], *ring[1:-1]]
    return rounds


def plan_rounds(n: int, rounds: int | None = None, seed: int = 0) -> tuple[list[list[tuple[int, int]]], str]:
    """The rounds to measure and why that many: all of them, or `rounds` (default
    SAMPLED_ROUNDS beyond ALL_PAIRS_UP_TO nodes) drawn at random with `seed`."""
    every = all_rounds(n)
    wanted = rounds if rounds is not None else (len(every) if n <= ALL_PAIRS_UP_TO else SAMPLED_ROUNDS)
    if wanted >= len(every):
        return every, f"all {n * (n - 1) // 2} pairs of {n} nodes in {len(every)} rounds"
    picked = sorted(random.Random(seed).sample(range(len(every)), wanted))
    why = (f"{wanted} of {len(every)} rounds drawn at random (seed {seed}): {wanted} partners per node, "
           f"{wanted * (n // 2)} of {n * (n - 1) // 2} pairs")
    if rounds is None:
        why += f" (every pair is measured up to {ALL_PAIRS_UP_TO} nodes; --rounds sets it)"
    return [every[i] for i in picked], why
