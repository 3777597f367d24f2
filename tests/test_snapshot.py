"""The lobby's encoded ``user_list`` (``c4actors.actors.snapshot``): after any run of lobby
changes it says what a ``user_list`` encoded from scratch says, and it is reused until the
lobby changes again.
"""

from __future__ import annotations

from typing import get_args

from hypothesis import given
from hypothesis import strategies as st

from c4actors.actors.snapshot import UserListCache
from c4actors.lobby_state import LobbyChanged
from protocol import UserList, decode_server
from protocol.messages import UserInfo, UserState

NAMES = ("ann", "bob", "cy", "dee")

user_infos = st.builds(
    UserInfo,
    name=st.sampled_from(NAMES),
    state=st.sampled_from(get_args(UserState)),
    wins=st.integers(0, 3),
    losses=st.integers(0, 3),
    draws=st.integers(0, 3),
    registered=st.booleans(),
)
changes = st.builds(
    LobbyChanged,
    users=st.lists(user_infos, max_size=3).map(tuple),
    left=st.lists(st.sampled_from(NAMES), max_size=2, unique=True).map(tuple),
    online=st.integers(0, 50),
)


@given(st.lists(changes, max_size=12))
def test_the_frame_is_the_user_list_of_the_rows_applied(applied: list[LobbyChanged]) -> None:
    """Rows keep their place when they change; a row that left and came back goes last."""
    cache = UserListCache()
    rows: dict[str, UserInfo] = {}
    online = 0
    for change in applied:
        cache.apply(change)
        for name in change.left:
            rows.pop(name, None)
        for info in change.users:
            rows[info.name] = info
        online = change.online
        expected = UserList(users=list(rows.values()), online=online)
        assert decode_server(cache.frame()) == expected


def test_an_unlisted_users_own_row_is_appended() -> None:
    cache = UserListCache()
    ann = UserInfo(name="ann", state="AVAILABLE")
    zed = UserInfo(name="zed", state="AVAILABLE", wins=2)
    cache.apply(LobbyChanged(users=(ann,), online=5))
    assert decode_server(cache.frame(zed)) == UserList(users=[ann, zed], online=5)
    # The shared frame is not changed by it.
    assert decode_server(cache.frame()) == UserList(users=[ann], online=5)


def test_the_frame_is_encoded_once_per_change() -> None:
    cache = UserListCache()
    assert decode_server(cache.frame()) == UserList(users=[], online=0)
    cache.apply(LobbyChanged(users=(UserInfo(name="ann", state="AVAILABLE"),), online=1))
    first = cache.frame()
    assert cache.frame() is first
    cache.apply(LobbyChanged(online=2))
    second = cache.frame()
    assert second is not first
    assert decode_server(second) == UserList(
        users=[UserInfo(name="ann", state="AVAILABLE")], online=2
    )


def test_the_prepared_frame_is_the_frame_and_the_common_one_is_kept() -> None:
    """``prepared``: the same text as ``frame``; the common one (its bytes built once) is
    the same object until the lobby changes; one with an own row is the newcomer's own."""
    cache = UserListCache()
    ann = UserInfo(name="ann", state="AVAILABLE")
    zed = UserInfo(name="zed", state="AVAILABLE")
    cache.apply(LobbyChanged(users=(ann,), online=2))
    common = cache.prepared()
    assert common.text == cache.frame()
    assert cache.prepared() is common
    own = cache.prepared(zed)
    assert own.text == cache.frame(zed) and own is not cache.prepared(zed)
    cache.apply(LobbyChanged(users=(), online=3))
    assert cache.prepared() is not common
    assert cache.prepared().text == cache.frame()
