"""`python -m benchmarks.real_series`, the command docs/guide.md gives: the model on real
node-count series. The code is benchmarks/selfbench/real_series.py."""
import sys

from .selfbench.real_series import main

if __name__ == "__main__":
    sys.exit(main())
