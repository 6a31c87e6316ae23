"""User-facing errors.

`RnnlabError` is raised for mistakes a user can fix (bad file, bad flag value, foreign
checkpoint). The CLI prints its message as one line `error: ...` and exits with status 2.
Messages follow one pattern: what was received, what was expected, how to fix it.
"""

from __future__ import annotations


class RnnlabError(Exception):
    """A user mistake with a message that names the problem and the fix."""


class PeerError(RnnlabError):
    """Under torchrun: rank 0's error, received by another rank, which need not print it."""


def expect(condition: bool, message: str) -> None:
    """Raise `RnnlabError(message)` unless `condition` holds (for user input, never `assert`)."""
    if not condition:
        raise RnnlabError(message)
