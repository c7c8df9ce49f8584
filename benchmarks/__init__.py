"""commscale jobs: the command line and what it runs, as sub-packages with one job each
(the map: ARCHITECTURE.md at the top of the repository)."""
