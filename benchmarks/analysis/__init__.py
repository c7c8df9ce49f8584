"""What happens to records once measured: load, fit, crossover, summary and report."""
