"""Named states and the machines made of them (after h11's `_state.py`): the WSGI adapters'
requests, and the conformance checker's view of a response.

A machine's states are the attributes of a class (``A, B = states(2)``, with what each means in
the class's docstring), and a table says which states each may move to. `Machine.move` is the only
way to change state: a move the table does not allow is a bug in the adapter, and raises
`IllegalMoveError` at once rather than let the request go on in a state nobody planned for. A
request has a half its thread moves and a half its event loop moves; a side reads the other's
machine only where a comment says why that is safe.

States are plain objects, not `enum.Enum` members: hashed by identity and found by plain attribute
lookup, so a move costs two dict lookups. On 3.11 an enum member's hash and lookup are each a
Python-level call, and made `AsgiToWsgi` 14% slower per request (benchmarks/README.md).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping


class IllegalMoveError(RuntimeError):
    """A move the state table does not allow: an internal error of the adapter."""


class State:
    """One state, named after the class attribute it is bound to."""

    __slots__ = ("name",)

    def __init__(self) -> None:
        self.name = "<unbound state>"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = f"{owner.__name__}.{name}"

    def __repr__(self) -> str:
        return self.name


def states(count: int) -> tuple[State, ...]:
    """`count` new states, for a class body to name."""
    return tuple(State() for _ in range(count))


class Machine:
    """The current state, and the table of the moves allowed from each state."""

    __slots__ = ("_moves", "state")

    def __init__(self, state: State, moves: Mapping[State, Collection[State]]) -> None:
        self.state = state
        self._moves = moves

    def move(self, to: State) -> None:
        if to not in self._moves.get(self.state, ()):
            raise IllegalMoveError(f"cannot move from {self.state} to {to}")
        self.state = to
