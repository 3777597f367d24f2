"""``docs/benchmarks.md`` is shared: each benchmark script owns one marked section of it."""

from __future__ import annotations

from pathlib import Path
from typing import Final

NEW_FILE_HEADER: Final = (
    "# Benchmarks\n\n"
    "Figures measured by the scripts in `bench/`; each script rewrites only its own section.\n"
)


def replace_section(path: Path, section: str, start_marker: str, end_marker: str) -> None:
    """Put ``section`` (which starts and ends with the markers) in place of the old one in
    ``path``, or append it; everything else in the file stays as it was."""
    text = path.read_text() if path.exists() else NEW_FILE_HEADER
    start, end = text.find(start_marker), text.find(end_marker)
    if 0 <= start < end:
        text = text[:start] + section + text[end + len(end_marker) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
