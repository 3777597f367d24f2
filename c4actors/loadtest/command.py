"""``c4actors loadtest``: argument parsing and the entry point (placeholder until it lands)."""

from __future__ import annotations

import argparse


def add_loadtest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws", help="server WebSocket URL")


def run_loadtest(args: argparse.Namespace) -> int:
    print("the load tester is not implemented yet")
    return 2
