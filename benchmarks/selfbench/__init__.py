"""commscale measuring itself against references: harness overhead, soak, bare gloo and C
MPI loops and OSU, the model on real node-count series."""
