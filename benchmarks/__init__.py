"""commscale jobs: the sweep harness, the dry run and the command line."""
