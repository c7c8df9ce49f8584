"""`python -m benchmarks.mpi_reference`, the command docs/guide.md gives: commscale's MPI numbers beside a C
reference. The code is benchmarks/selfbench/mpi_reference.py."""
import sys

from .selfbench.mpi_reference import main

if __name__ == "__main__":
    sys.exit(main())
