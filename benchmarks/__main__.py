"""`python -m benchmarks` is the `commscale` command."""
import sys

from .cli import main

sys.exit(main())
