"""The toolkit's own exception: bad input or a state the user can put right.

Its message says what is wrong and what to do; the command line prints it on one line and exits
with code 2, without a traceback. Messages that name a command use `command()`, so that they name
the program as the user typed it (`xray-tuner` installed, `python cli.py` from a clone).
"""

PROGRAM = "xray-tuner"  # the command line sets it to the name it was started by


class ToolkitError(Exception):
    """A wrong path, flag value, file or run: what is wrong, and what to do."""


def command(arguments: str) -> str:
    """A command line to quote in a message: "`xray-tuner report --run X`"."""
    return f"`{PROGRAM} {arguments}`"
