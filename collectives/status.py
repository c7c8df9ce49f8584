"""Exit statuses of a commscale process, shared by the command line and the backends
(an MPI rank that abandons a failed run aborts the job with EXIT_FAILED)."""

EXIT_OK = 0
EXIT_WRONG_DATA = 1
"""A data check failed: some point's result was wrong (its records say which)."""
EXIT_USAGE = 2
"""Bad input: one line named the problem and the fix."""
EXIT_FAILED = 3
"""A crash: its traceback was printed once."""
EXIT_STOPPED = 4
"""SIGTERM or SIGUSR1 stopped the sweep at a point boundary; the records so far are kept."""
EXIT_LOST = 5
"""A collective did not finish within --timeout, or a peer rank went away; the message
names the point and the ranks that did not arrive; the records so far are kept."""
EXIT_SUSPECTS = 6
"""`commscale doctor` found a slow node or link (doctor.json names them); 0 is healthy."""
