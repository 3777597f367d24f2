"""The lobby's broadcast buffer: what it coalesces, and when each update is due."""

from __future__ import annotations

import pytest

from c4actors.lobby_state import LobbyChanged
from c4actors.lobby_updates import LobbyUpdateBuffer
from protocol.messages import LobbyUpdate, UserInfo

ANN = UserInfo(name="ann", state="AVAILABLE")
BOB = UserInfo(name="bob", state="AVAILABLE")


def test_update_buffer_coalesces_and_drops_join_then_leave() -> None:
    buffer = LobbyUpdateBuffer()
    assert buffer.take() is None
    buffer.add(LobbyChanged(users=(ANN,), online=1), now=0)
    buffer.add(LobbyChanged(users=(BOB,), online=2), now=0)
    buffer.add(LobbyChanged(left=("bob",), online=1), now=0)
    assert buffer.take() == LobbyUpdate(users=[ANN], left=["bob"], online=1)
    assert buffer.take() is None


def test_update_buffer_sends_a_changed_count_alone_and_skips_a_count_that_came_back() -> None:
    buffer = LobbyUpdateBuffer()
    buffer.add(LobbyChanged(online=5), now=0)
    assert buffer.count_only
    assert buffer.take() == LobbyUpdate(users=[], left=[], online=5)
    buffer.add(LobbyChanged(online=6), now=0)
    buffer.add(LobbyChanged(online=5), now=0)
    assert not buffer
    assert buffer.due is None
    assert buffer.take() is None


def test_the_lobby_tick_lengthens_with_the_number_of_watchers() -> None:
    buffer = LobbyUpdateBuffer(tick=0.05)
    assert buffer.effective_tick == 0.05
    assert buffer.count_tick == 1.0
    buffer.reached(2_000)
    assert buffer.effective_tick == pytest.approx(0.3)
    assert buffer.count_tick == pytest.approx(10.0)
    buffer.reached(10_000)
    assert buffer.effective_tick == pytest.approx(1.5)
    assert buffer.count_tick == pytest.approx(50.0)


def test_a_row_change_is_due_one_lengthened_tick_after_the_first_change() -> None:
    buffer = LobbyUpdateBuffer(tick=0.05)
    assert buffer.due is None
    buffer.add(LobbyChanged(users=(ANN,), online=1), now=100.0)
    assert buffer.due == pytest.approx(100.05)
    # Later changes ride along: the batch is due when its first change's tick ends.
    buffer.add(LobbyChanged(users=(BOB,), online=2), now=100.04)
    assert buffer.due == pytest.approx(100.05)
    buffer.take()
    assert buffer.due is None
    buffer.reached(2_000)
    buffer.add(LobbyChanged(left=("bob",), online=1), now=200.0)
    assert buffer.due == pytest.approx(200.3)


def test_a_count_change_alone_waits_for_the_count_tick_and_a_row_change_does_not() -> None:
    buffer = LobbyUpdateBuffer(tick=0.05)
    now = 10.0
    buffer.add(LobbyChanged(online=101), now)
    assert buffer.due == pytest.approx(now + 1.0)
    buffer.add(LobbyChanged(online=102), now + 0.5)
    assert buffer.due == pytest.approx(now + 1.0)
    # A row change pending brings the update forward to the ordinary tick.
    buffer.add(LobbyChanged(users=(ANN,), online=102), now + 0.6)
    assert buffer.due == pytest.approx(now + 0.65)
    assert buffer.take() == LobbyUpdate(users=[ANN], left=[], online=102)
    assert not buffer
    # A count change never postpones a pending row change.
    buffer.add(LobbyChanged(users=(BOB,), online=103), now + 2)
    buffer.add(LobbyChanged(online=104), now + 2.01)
    assert buffer.due == pytest.approx(now + 2.05)


def test_a_count_change_waits_longer_with_many_watchers() -> None:
    buffer = LobbyUpdateBuffer(tick=0.05)
    buffer.reached(2_000)
    buffer.add(LobbyChanged(online=2_001), now=0.0)
    assert buffer.due == pytest.approx(10.0)


@pytest.mark.parametrize(
    "change", [LobbyChanged(users=(ANN,), online=1), LobbyChanged(online=7)], ids=str
)
def test_a_zero_tick_makes_every_change_due_at_once(change: LobbyChanged) -> None:
    buffer = LobbyUpdateBuffer(tick=0)
    buffer.reached(10_000)
    buffer.add(change, now=42.0)
    assert buffer.due == 42.0
