"""commscale's analysis: load runs into pandas (fit, crossover and reports build on it)."""
