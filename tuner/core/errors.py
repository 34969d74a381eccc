"""The one exception type that the command line turns into a one-line message."""


class UsageError(Exception):
    """Bad input from the user: a wrong path, flag value or file.

    The message says what is wrong and what to do; `cli.py` prints it on one
    line and exits with code 2, without a traceback.
    """
