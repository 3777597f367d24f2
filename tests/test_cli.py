"""``c4actors serve`` options that need checking before the server starts."""

from __future__ import annotations

import pytest

from c4actors.actors.lobby import DEFAULT_LIST_LIMIT
from c4actors.cli import build_parser
from c4actors.lobby_state import (
    DEFAULT_INVITATION_TIMEOUT,
    DEFAULT_MAX_GAMES_PER_MINUTE,
    DEFAULT_REMATCH_TIMEOUT,
)


def test_lobby_list_limit_defaults_and_zero_lists_everyone() -> None:
    assert build_parser().parse_args(["serve"]).lobby_list_limit == DEFAULT_LIST_LIMIT
    assert build_parser().parse_args(["serve", "--lobby-list-limit", "0"]).lobby_list_limit == 0


@pytest.mark.parametrize("bad", ["-1", "many", "2.5"])
def test_a_bad_lobby_list_limit_is_refused_with_a_clear_message(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["serve", "--lobby-list-limit", bad])
    assert exit_.value.code == 2
    assert f"must be a whole number >= 0, not {bad!r}" in capsys.readouterr().err


def test_max_games_per_minute_defaults_to_the_lobby_cap_and_refuses_bad_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parse = build_parser().parse_args
    assert parse(["serve"]).max_games_per_minute == DEFAULT_MAX_GAMES_PER_MINUTE == 30
    assert parse(["serve", "--max-games-per-minute", "0"]).max_games_per_minute == 0
    with pytest.raises(SystemExit):
        parse(["serve", "--max-games-per-minute", "-3"])
    assert "must be a whole number >= 0, not '-3'" in capsys.readouterr().err


def test_invitation_timeout_defaults_to_a_minute_and_zero_means_never() -> None:
    parse = build_parser().parse_args
    assert parse(["serve"]).invitation_timeout == DEFAULT_INVITATION_TIMEOUT == 60
    assert parse(["serve", "--invitation-timeout", "0"]).invitation_timeout == 0
    with pytest.raises(SystemExit):
        parse(["serve", "--invitation-timeout", "-1"])


def test_rematch_timeout_defaults_to_thirty_seconds_and_zero_means_never() -> None:
    parse = build_parser().parse_args
    assert parse(["serve"]).rematch_timeout == DEFAULT_REMATCH_TIMEOUT == 30
    assert parse(["serve", "--rematch-timeout", "0"]).rematch_timeout == 0
    with pytest.raises(SystemExit):
        parse(["serve", "--rematch-timeout", "-1"])


def test_registrations_per_address_defaults_to_five_and_zero_lifts_it() -> None:
    assert build_parser().parse_args(["serve"]).registrations_per_address == 5
    args = build_parser().parse_args(["serve", "--registrations-per-address", "0"])
    assert args.registrations_per_address == 0


def test_max_message_bytes_defaults_to_the_protocol_s_limit_and_zero_keeps_a_ceiling(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from c4actors.actors.user import ConnectionSettings
    from c4actors.limits import UNLIMITED_RECEIVE_BYTES
    from protocol import DEFAULT_MAX_MESSAGE_BYTES

    parse = build_parser().parse_args
    assert parse(["serve"]).max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES == 4096
    assert ConnectionSettings().frame_limit == DEFAULT_MAX_MESSAGE_BYTES
    zero = parse(["serve", "--max-message-bytes", "0"]).max_message_bytes
    assert ConnectionSettings(max_message_bytes=zero).frame_limit == UNLIMITED_RECEIVE_BYTES
    with pytest.raises(SystemExit):
        parse(["serve", "--max-message-bytes", "-1"])
    assert "must be a whole number >= 0, not '-1'" in capsys.readouterr().err


def test_db_pool_size_defaults_to_ten_and_needs_one_connection(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parse = build_parser().parse_args
    assert parse(["serve"]).db_pool_size == 10
    assert parse(["serve", "--db-pool-size", "3"]).db_pool_size == 3
    with pytest.raises(SystemExit):
        parse(["serve", "--db-pool-size", "0"])
    assert "must be a whole number >= 1, not '0'" in capsys.readouterr().err
