"""The one exception the CLI turns into a one-line message and exit status 2."""
import sys


class UsageError(Exception):
    """Bad input: the message names the problem and the fix."""

    reported = False
    """Set once the one line has been printed (by rank 0, before the ranks part)."""


def report_usage_error(exc: UsageError) -> None:
    print(f"commscale: error: {exc}", file=sys.stderr, flush=True)


EXIT_OK = 0
EXIT_WRONG_DATA = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_STOPPED = 4
"""SIGTERM or SIGUSR1 stopped the sweep at a point boundary; the records so far are kept."""
EXIT_LOST = 5
"""A collective did not finish within --timeout, or a peer rank went away; the message
names the point and the ranks that did not arrive; the records so far are kept."""
