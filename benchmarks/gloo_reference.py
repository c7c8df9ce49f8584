"""`python -m benchmarks.gloo_reference`, the command docs/guide.md gives: commscale's gloo numbers beside a bare
torch.distributed loop. The code is benchmarks/selfbench/gloo_reference.py."""
import sys

from .selfbench.gloo_reference import main

if __name__ == "__main__":
    sys.exit(main())
