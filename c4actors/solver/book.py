"""The 12-ply opening books of ``bitbully-databases`` (MIT), read through ``mmap``.

Why mmap
--------
The package's own reader turns a book into a list of tuples: +174 MiB (win/draw/loss book) and
+464 MiB (book with distances) of Python objects, in every worker process that solves.  A
binary search over the raw file costs no memory beyond the file itself, and its pages live in
the operating system's page cache, shared by every process that maps it: four solver workers
cost one 21 MB file, not four copies of half a gigabyte.  A lookup is about 22 probes of a
few hundred bytes.

Format (from ``bitbully_databases/bitbully_databases.py``)
-----------------------------------------------------------
A position with exactly 12 stones is encoded as a bit string, columns left to right, each
column bottom to top: ``10`` for a stone of player 1 (who moved first), ``11`` for player 2,
then ``0`` to close the column (a full column is closed too), and one final ``0``: 12 * 2 + 7
+ 1 = 32 bits, read as a big-endian *signed* 32-bit int.  Entries are sorted by that int, and
a position is stored either as itself or as its mirror image, so a lookup tries both.

* ``book_12ply_distances.dat``: 5-byte entries, the code then a signed byte ``v``: 0 a draw,
  ``v > 0`` player 1 wins in ``100 - v`` plies, ``v < 0`` player 1 loses in ``100 + v``.
* ``book_12ply.dat``: 4-byte entries whose two low bits (always 0 in a code) hold ``-value``:
  0 a draw, 1 player 1 loses; a position that is NOT in the book is a win for player 1.

Both speak for player 1, who is also the side to move after 12 plies; getting that wrong, or
reading a missing entry as "unknown", would corrupt results silently, so ``tests`` check the
two books against each other and against the search.
"""

from __future__ import annotations

import bisect
import mmap
import struct
from importlib.resources import as_file, files
from pathlib import Path
from typing import Final

from c4actors.rules import CELLS, COLUMNS, Bitboard

BOOK_PLY: Final = 12

_STRIDE: Final = 7


def _column_codes() -> dict[int, tuple[int, int]]:
    """Each column's ``(code, bit count)``, keyed by ``mask_bits << 7 | player1_bits``."""
    codes = {}
    for height in range(7):
        column_mask = (1 << height) - 1
        for player1 in range(1 << height):
            code, length = 0, 0
            for row in range(height):
                code = code << 2 | (0b10 if player1 >> row & 1 else 0b11)
                length += 2
            code <<= 1  # the column's closing 0, full columns included
            length += 1
            codes[column_mask << 7 | player1] = (code, length)
    return codes


_COLUMN_CODES: Final = _column_codes()


def encode(player1: Bitboard, mask: Bitboard, *, mirrored: bool = False) -> int:
    """The book's signed 32-bit code of a 12-stone position (``player1``: the first player's
    stones, ``mask``: all stones); ``mirrored`` encodes its mirror image instead."""
    code, length = 0, 0
    order = range(COLUMNS - 1, -1, -1) if mirrored else range(COLUMNS)
    for column in order:
        shift = column * _STRIDE
        column_code, column_length = _COLUMN_CODES[
            ((mask >> shift) & 0x7F) << 7 | ((player1 >> shift) & 0x7F)
        ]
        code = code << column_length | column_code
        length += column_length
    code <<= 1
    length += 1
    if length != 32:
        raise ValueError(f"the book holds positions of {BOOK_PLY} stones, not {length // 2 - 4}")
    return code - (1 << 32) if code >> 31 else code


class BookMissingError(RuntimeError):
    """The ``bitbully-databases`` package is not installed (a dependency since the solver)."""


def _packaged(name: str) -> Path:
    try:
        assets = files("bitbully_databases").joinpath("assets", name)
    except ModuleNotFoundError:
        raise BookMissingError(
            "the solver's opening book needs the bitbully-databases package: "
            "reinstall c4actors (pip install -e .) to get its dependencies"
        ) from None
    with as_file(assets) as path:
        return Path(path)


class _MappedEntries:
    """A sorted file of fixed-size entries, mapped read-only, searched by its leading int.

    A lookup bisects a sparse index (the leading int of every ``BLOCK``-th entry, read once
    on first use, a few milliseconds) to find its block, unpacks that block with one
    ``struct`` call, and bisects it: two C-level bisections instead of some 22 probes in
    Python.  ``with_payload`` entries carry a signed byte after the int (the distance book);
    otherwise the value is in the int's two low bits, which a code always leaves at 0 (the
    win/draw/loss book), so the raw ints sort exactly as the codes do.
    """

    BLOCK: Final = 128

    def __init__(self, path: Path, *, with_payload: bool) -> None:
        with path.open("rb") as file:
            self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        self._with_payload = with_payload
        self._size = 5 if with_payload else 4
        if len(self._map) % self._size:
            raise ValueError(f"{path} is not a whole number of {self._size}-byte entries")
        self.count = len(self._map) // self._size
        self._index: list[int] | None = None
        self._blocks: dict[int, struct.Struct] = {}

    def _block_format(self, entries: int) -> struct.Struct:
        found = self._blocks.get(entries)
        if found is None:
            found = self._blocks[entries] = struct.Struct(
                ">" + ("ib" if self._with_payload else "i") * entries
            )
        return found

    def _build_index(self) -> list[int]:
        lead = struct.Struct(">i").unpack_from
        size, data = self._size, self._map
        return [lead(data, i * size)[0] for i in range(0, self.count, self.BLOCK)]

    def warm_up(self) -> None:
        if self._index is None:
            self._index = self._build_index()

    def find(self, code: int) -> int | None:
        """The value stored with ``code``: the payload byte, or the two low bits; else None."""
        index = self._index
        if index is None:
            index = self._index = self._build_index()
        block = bisect.bisect_right(index, code | 3) - 1
        if block < 0:
            return None
        start = block * self.BLOCK
        entries = min(self.BLOCK, self.count - start)
        values = self._block_format(entries).unpack_from(self._map, start * self._size)
        if self._with_payload:
            codes = values[0::2]
            i = bisect.bisect_left(codes, code)
            if i < entries and codes[i] == code:
                return int(values[2 * i + 1])
            return None
        i = bisect.bisect_left(values, code)
        if i < entries and values[i] & ~3 == code:
            return int(values[i] & 3)
        return None

    def close(self) -> None:
        self._map.close()


def _pons_score(player1_wins_in: int) -> int:
    """Pons' score, for the side to move at ply 12, of a game that ends ``plies`` later."""
    end = BOOK_PLY + abs(player1_wins_in)  # the number of stones once the game is won
    score = (CELLS + 2 - end) // 2
    return score if player1_wins_in > 0 else -score


class DistanceBook:
    """``book_12ply_distances.dat``: the exact score of every position of 12 stones."""

    def __init__(self, path: Path | None = None) -> None:
        self._entries = _MappedEntries(
            path or _packaged("book_12ply_distances.dat"), with_payload=True
        )

    @property
    def count(self) -> int:
        return self._entries.count

    def raw_value(self, player1: Bitboard, mask: Bitboard) -> int | None:
        """The stored byte for this position or its mirror image; None if neither is stored."""
        for mirrored in (False, True):
            value = self._entries.find(encode(player1, mask, mirrored=mirrored))
            if value is not None:
                return value
        return None

    def warm_up(self) -> None:
        """Read the sparse index now rather than at the first lookup."""
        self._entries.warm_up()

    def score(self, current: Bitboard, mask: Bitboard) -> int | None:
        """Pons' score for the side to move (player 1, at 12 stones), None if not stored."""
        value = self.raw_value(current, mask)
        if value is None:
            return None
        if value == 0:
            return 0
        return _pons_score(100 - value if value > 0 else -(100 + value))

    def close(self) -> None:
        self._entries.close()


class OutcomeBook:
    """``book_12ply.dat``: win (1), draw (0) or loss (-1) for player 1 at 12 stones."""

    def __init__(self, path: Path | None = None) -> None:
        self._entries = _MappedEntries(path or _packaged("book_12ply.dat"), with_payload=False)

    @property
    def count(self) -> int:
        return self._entries.count

    def warm_up(self) -> None:
        """Read the sparse index now rather than at the first lookup."""
        self._entries.warm_up()

    def outcome(self, current: Bitboard, mask: Bitboard) -> int:
        """1, 0 or -1 for the side to move (player 1, at 12 stones).

        A position in neither orientation is a win for player 1: the book leaves those out.
        """
        for mirrored in (False, True):
            value = self._entries.find(encode(current, mask, mirrored=mirrored))
            if value is not None:
                return -value
        return 1

    def close(self) -> None:
        self._entries.close()


_distance_book: DistanceBook | None = None
_outcome_book: OutcomeBook | None = None


def distance_book() -> DistanceBook:
    """This process's distance book, mapped on first use (so a forked worker maps its own)."""
    global _distance_book
    if _distance_book is None:
        _distance_book = DistanceBook()
    return _distance_book


def outcome_book() -> OutcomeBook:
    """This process's win/draw/loss book, mapped on first use."""
    global _outcome_book
    if _outcome_book is None:
        _outcome_book = OutcomeBook()
    return _outcome_book
