"""Slurm job scripts for commscale: templates (templates/), the pure renderer (render.py)
and submission (jobs.py). `commscale slurm` (benchmarks/cli/slurm.py) drives them."""
