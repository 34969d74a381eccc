"""The ground floor: errors, settings, the run folder, atomic writes, the lock, progress displays.

Imports no other layer of the package."""
