"""Helpers shared by the state machines."""

from hypothesis import note as _note
from hypothesis.errors import InvalidArgument


def note(msg):
    """hypothesis.note, also usable when a machine's steps are replayed
    by hand in an explicit example test."""
    try:
        _note(msg)
    except InvalidArgument:
        pass
