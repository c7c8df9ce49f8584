"""The one exception the CLI turns into a one-line message and exit status 2."""


class UsageError(Exception):
    """Bad input: the message names the problem and the fix."""


EXIT_OK = 0
EXIT_WRONG_DATA = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_STOPPED = 4
"""SIGTERM or SIGUSR1 stopped the sweep at a point boundary; the records so far are kept."""
