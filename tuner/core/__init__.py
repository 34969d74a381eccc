"""The ground floor: errors, settings, the run folder, atomic writes, the lock, progress displays.

Imports no other layer of the package; settings.py checks a space's name in the search_spaces registry,
which imports nothing of Keras and only tuner.core.errors back."""
