"""The one exception the CLI turns into a one-line message and exit status 2, and the
exit statuses (collectives/status.py, where the backends read them too)."""
import sys

from collectives.status import (EXIT_FAILED, EXIT_LOST, EXIT_OK, EXIT_STOPPED, EXIT_SUSPECTS, EXIT_USAGE,
                                EXIT_WRONG_DATA)

__all__ = ["UsageError", "report_usage_error", "EXIT_OK", "EXIT_WRONG_DATA", "EXIT_USAGE", "EXIT_FAILED",
           "EXIT_STOPPED", "EXIT_LOST", "EXIT_SUSPECTS"]


class UsageError(Exception):
    """Bad input: the message names the problem and the fix."""

    reported = False
    """Set once the one line has been printed (by rank 0, before the ranks part)."""


def report_usage_error(exc: UsageError) -> None:
    print(f"commscale: error: {exc}", file=sys.stderr, flush=True)
