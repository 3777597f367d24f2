"""``c4actors serve`` options that need checking before the server starts."""

from __future__ import annotations

import pytest

from c4actors.actors.lobby import DEFAULT_LIST_LIMIT
from c4actors.cli import build_parser


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
