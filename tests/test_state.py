"""`asgiref._state`: a request's state moves only as its table allows."""

from __future__ import annotations

import pytest

from asgiref._state import IllegalMoveError, Machine, State, states


class Door:
    CLOSED, OPEN, LOCKED = states(3)


MOVES = {Door.CLOSED: {Door.OPEN, Door.LOCKED}, Door.OPEN: {Door.CLOSED}}


def test_states_are_named_after_their_class_attribute() -> None:
    assert repr(Door.CLOSED) == "Door.CLOSED"
    assert len({Door.CLOSED, Door.OPEN, Door.LOCKED}) == 3


def test_allowed_moves_change_the_state() -> None:
    door = Machine(Door.CLOSED, MOVES)
    door.move(Door.OPEN)
    door.move(Door.CLOSED)
    door.move(Door.LOCKED)
    assert door.state is Door.LOCKED


@pytest.mark.parametrize(
    ("start", "to"),
    [(Door.OPEN, Door.LOCKED), (Door.LOCKED, Door.OPEN), (Door.CLOSED, Door.CLOSED)],
)
def test_a_move_the_table_does_not_allow_is_refused_and_changes_nothing(
    start: State, to: State
) -> None:
    door = Machine(start, MOVES)
    with pytest.raises(IllegalMoveError, match=f"cannot move from {start} to {to}"):
        door.move(to)
    assert door.state is start
