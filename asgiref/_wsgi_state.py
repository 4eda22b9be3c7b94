"""The state machines the WSGI adapters' requests are made of (after h11's `_state.py`).

A state is a member of an `Enum` (whose docstring says what each means), and a table says which
states each may move to. `Machine.move` is the only way to change state: a move the table does
not allow is a bug in the adapter, and raises `IllegalMoveError` at once rather than let the
request go on in a state nobody planned for. A request has a half its thread moves and a half its
event loop moves; a side reads the other's machine only where a comment says why that is safe.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from typing import Generic, TypeVar

_S = TypeVar("_S", bound=enum.Enum)


class IllegalMoveError(RuntimeError):
    """A move the state table does not allow: an internal error of the adapter."""


class Machine(Generic[_S]):
    """The current state, and the table of the moves allowed from each state."""

    __slots__ = ("_moves", "state")

    def __init__(self, state: _S, moves: Mapping[_S, Collection[_S]]) -> None:
        self.state = state
        self._moves = moves

    def move(self, to: _S) -> None:
        if to not in self._moves.get(self.state, ()):
            raise IllegalMoveError(f"cannot move from {self.state} to {to}")
        self.state = to
