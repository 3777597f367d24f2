"""``c4actors migrate --from sqlite:PATH --to postgresql://...``: move a server's data from
SQLite to PostgreSQL, with a progress bar and a summary.

Exit status: 0 when everything was copied; 1 with a one-line reason when nothing was (a
target that already holds accounts or games, a missing or damaged source, a database that
cannot be reached).  The copy itself is ``c4actors.store.transfer``: one transaction, so
there is no partial result.  Stop the servers using the SQLite file first: games that end
during the copy would not be in it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from c4actors.store.errors import StoreError
from c4actors.store.postgres import display_url, is_postgres_url
from c4actors.store.transfer import check_target, copy_to_postgres, source_counts

SQLITE_PREFIX = "sqlite:"


def _sqlite_source(text: str) -> Path:
    if not text.startswith(SQLITE_PREFIX) or len(text) == len(SQLITE_PREFIX):
        raise argparse.ArgumentTypeError(f"must be sqlite:PATH, not {text!r}")
    return Path(text.removeprefix(SQLITE_PREFIX))


def _postgres_target(text: str) -> str:
    if not is_postgres_url(text):
        raise argparse.ArgumentTypeError(
            f"must be postgresql://USER@HOST[:PORT]/DB, not {display_url(text)!r}"
        )
    return text


def add_migrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="source",
        type=_sqlite_source,
        required=True,
        metavar="sqlite:PATH",
        help="the SQLite database to copy (checked and brought to the current schema first)",
    )
    parser.add_argument(
        "--to",
        dest="target",
        type=_postgres_target,
        required=True,
        metavar="postgresql://USER@HOST[:PORT]/DB",
        help="an existing, empty PostgreSQL database (its tables are created)",
    )


def run_migrate(args: argparse.Namespace) -> int:
    source: Path = args.source
    target: str = args.target
    try:
        totals = source_counts(source)
        check_target(target)
        with Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        ) as progress:
            tasks = {
                table: progress.add_task(table, total=count) for table, count in totals.items()
            }
            summary = copy_to_postgres(
                source, target, lambda table, rows: progress.advance(tasks[table], rows)
            )
    except StoreError as error:
        print(f"c4actors migrate: {error}", file=sys.stderr)
        return 1
    counts = summary.counts
    print(
        f"copied {counts['accounts']} accounts and {counts['games']} games from "
        f"sqlite:{source} to {display_url(target)} in {summary.seconds:.1f} s",
        file=sys.stdout,
    )
    return 0
