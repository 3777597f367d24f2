"""``c4actors solve`` and ``c4actors analyse``, through a real process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "c4actors.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_solve_prints_the_verdict_and_every_move() -> None:
    result = run("solve", "4455")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["moves"] == "4455"
    assert document["to_move"] == 1
    assert document["verdict"] == {"outcome": "win", "plies": 3, "score": 18}
    assert document["best"] == [3, 6]  # 1-based, like MOVES
    by_column = {entry["column"]: entry for entry in document["columns"]}
    assert sorted(by_column) == [1, 2, 3, 4, 5, 6, 7]
    assert by_column[3] == {"column": 3, "outcome": "win", "plies": 3, "score": 18}
    assert max(entry["score"] for entry in document["columns"]) == 18


def test_analyse_prints_every_move_with_a_grade() -> None:
    result = run("analyse", "44551")
    assert result.returncode == 0, result.stderr
    moves = json.loads(result.stdout)["analysis"]
    assert [m["ply"] for m in moves] == [1, 2, 3, 4, 5]
    assert [m["column"] for m in moves] == [4, 4, 5, 5, 1]
    assert [m["player"] for m in moves] == [1, 2, 1, 2, 1]
    last = moves[-1]
    assert last["before"] == {"outcome": "win", "plies": 3, "score": 18}
    assert last["best"] == [3, 6]
    assert last["after"]["outcome"] == "loss"
    assert last["grade"] == "blunder"


@pytest.mark.parametrize(
    ("command", "moves", "message"),
    [
        ("solve", "4458", "digits 1 to 7"),
        ("solve", "44a", "digits 1 to 7"),
        ("solve", "4444444", "move 7 is column 4, which is full"),
        ("solve", "1212121", "the game is over after move 7"),
        ("analyse", "12121212", "move 8 comes after the game was won"),
        ("analyse", "0", "digits 1 to 7"),
    ],
)
def test_bad_moves_exit_2_with_a_clear_message(command: str, moves: str, message: str) -> None:
    result = run(command, moves, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_a_timeout_exits_1() -> None:
    result = run("solve", "4444441233212", "--timeout", "0", timeout=60)
    assert result.returncode == 1
    assert "no answer within" in result.stderr
