"""A search space's registry entry by name, or a one-line error naming the spaces there are."""

from __future__ import annotations

from search_spaces.registry import SPACES, SpaceEntry
from tuner.core.errors import ToolkitError, command


def space_entry(name: str) -> SpaceEntry:
    """The registry entry of the space called `name` (no Keras imported).

    Raises:
        ToolkitError: no space has that name; the message lists the spaces.
    """
    if name not in SPACES:
        raise ToolkitError(f"unknown space {name!r}: choose one of {', '.join(SPACES)} (see {command('spaces')})")
    return SPACES[name]
