"""The compute side of the model: GEMM throughput and memory copy bandwidth."""
