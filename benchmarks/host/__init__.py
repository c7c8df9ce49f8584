"""This host and this rank, seen from inside a launch: who the rank is (detect), what the
machine offers (machine), the preflight, each host's domain. The sweep and the doctor read
them; benchmarks/launch/ starts ranks. ARCHITECTURE.md has the map."""
