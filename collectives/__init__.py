"""commscale's vocabulary: collective specs, dtypes, sizes, timing statistics, records and
backends. Imports neither benchmarks nor reports, and needs neither MPI nor CUDA."""
from .registry import COLLECTIVES, get_collective

__all__ = ["COLLECTIVES", "get_collective"]
