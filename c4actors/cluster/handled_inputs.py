"""``HandledInputs``: which input entries the core handled, per edge, so that each is
handled exactly once, in whatever order its copies arrive (issue 16, "exactly-once effects").

An edge numbers its input entries 1, 2, 3... (``wire.Uplink.seq``; a restarted edge is a
new edge, with a new name) and appends them through ``bus.appender.Appender``, pipelined:
up to ``appender.WINDOW`` (64) XADDs written and not yet confirmed.  Each entry reaches the
stream at least once (the appender sends it again until Redis confirms a copy), but not
always in order, and not always once:

* a reply lost with its connection: the entry and those after it are sent again, so the
  stream holds ``k, k+1, k, k+1``;
* Redis refusing one XADD for a reason other than an outage (OOM under ``maxmemory``,
  BUSY, READONLY, MISCONF, ...) and applying the next, already written behind it on the
  same connection: the stream holds ``k+1`` and, once the refused entry is sent again,
  ``k`` after it; nothing the appender does can take ``k+1`` back, and no condition on a
  plain XADD makes Redis refuse it because ``k`` was refused;
* a deposed core that read entries after the new core's takeover (it stood still, woke,
  read on until its commit was refused): the new core claims them (``claim_abandoned``)
  after it read later ones;

so the core may see entry ``k`` after ``k+1``.  Keeping only the highest number handled
per edge (as the core did) then drops ``k`` as a copy: an input lost.  So each edge keeps
``upto``, every entry up to which was handled, and ``above``, the entries handled past the
first one missing: a late entry is handled once when it comes, and a copy is still dropped.
That it comes late rather than in order is the best anyone can do once Redis applied its
successor, and the relay handles it as it would have handled it in order (a move carries
its ply, so a move overtaken by its player's next one cannot be: the next needs the first
one's reply; a request for a connection the core does not know yet closes it, and its page
joins again).  Holding ``k+1`` back until ``k`` comes instead would hold an edge's every
input on an entry that may never come (the edge died before sending ``k`` again, the
stream was trimmed past it): an edge stuck, rather than one input late.

Bounded: the appender never writes an entry ``WINDOW`` or more past one Redis has not
confirmed, so a gap is at most that wide from a living edge, and a core reads at most two
batches (``DEFAULT_COUNT`` each) that another core read first.  An entry more than
``REORDER_SPAN`` past the first one missing gives that gap up (``given_up`` says which
numbers: entries trimmed before they were read), so ``above`` never grows without end.
While no gap is open (always, but in a fault) each edge is one number, as before.

**Only the edges known as live count: an edge announces itself, and one declared dead is
fenced with nothing remembered of it.**  The core declares an edge dead when it has not
heard from it for ``wire.EDGE_TIMEOUT``, and an edge that was only stalled (SIGSTOP, a long
pause, cut off from Redis) may come back: its appender then sends again what Redis had
not confirmed, maybe entries the core handled already.  Taking it for a new edge handled
such a copy twice, and the items of a connection the lobby was told had left.  So the core
handles an entry only from an edge it knows (``upto`` holds it): ``forget`` drops a dead
edge's numbers, and every later entry of it is dropped (``first_time`` False, ``admits``
False: the core tells the edge, which closes its sockets and comes back under a new name,
``cluster.edge``).  An edge becomes known by its **announcement**: its entry number 1,
which carries no item, and which the edge sends alone and waits to see in the stream
before it sends anything else (``EdgeLink.send_inputs``).  So an entry 1 of a name the
core does not know is either a new edge's or a copy of a dead edge's announcement sent
again before anything else of it reached the stream: taking it (again) for a live edge
handles nothing twice (the name dies again if it stays silent).  Every other entry of a
name the core does not know is dropped, however long ago and however many edges ago it
was declared dead: nothing is kept per dead edge.  (Before, the core kept the names of the
1,024 latest dead edges and took one stalled past 1,024 later deaths for a new edge.)
A new edge's entry read before its announcement (a deposed core read the announcement,
the serving core claims it only after reading on) is dropped too: the edge is told so and
comes back under a new name, nothing handled twice.

The state is committed with each batch's acknowledgement (``keeper.INPUTS_HANDLED``,
``to_json``) and restored by a core that takes over (``from_json``), so a copy of an entry
the old core handled is dropped by the new one, a late entry the old core had not handled
yet is still handled, and an edge the old core had declared dead is unknown to the new one
too.  An older core's state (a number per edge) loads as it is.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

REORDER_SPAN: Final = 1024
"""How far past the first entry missing from an edge the core still expects it to come:
far above the appender's window (64) and a deposed core's two reads (200 entries)."""

_COMPACT: Final = (",", ":")


class HandledInputs:
    """The input entries handled, per edge: see the module docstring."""

    __slots__ = ("above", "given_up", "upto")

    def __init__(self) -> None:
        self.upto: dict[str, int] = {}
        """Per edge: every entry numbered up to this one was handled (0: none yet)."""
        self.above: dict[str, set[int]] = {}
        """Per edge with a gap open: the entries handled past ``upto + 1`` (never empty)."""
        self.given_up: list[tuple[str, int, int]] = []
        """Gaps given up since the caller last emptied it: ``(edge, first, last)``, the
        entries in between not handled by then never will be (the caller logs them)."""

    def first_time(self, edge: str, seq: int) -> bool:
        """Whether entry ``seq`` (>= 1) of ``edge`` is handled for the first time: then it
        is noted as handled, and any later copy of it gets False."""
        above = self.above.get(edge)
        if above is None:
            upto = self.upto.get(edge)
            if upto is None:
                if seq != 1:
                    return False  # not known: declared dead, or never announced
                upto = 0  # its announcement: a new edge
            if seq == upto + 1:  # in order: nearly always
                self.upto[edge] = seq
                return True
            if seq <= upto:
                return False
            above = self.above[edge] = set()
        else:
            upto = self.upto[edge]
            if seq <= upto or seq in above:
                return False
        above.add(seq)
        while seq - upto > REORDER_SPAN:
            # The first entry missing is too far behind to come: the gap is given up.
            lowest = min(above)
            self.given_up.append((edge, upto + 1, lowest - 1))
            upto = lowest - 1
            upto = _filled(upto, above)
        upto = _filled(upto, above)
        self.upto[edge] = upto
        if not above:
            del self.above[edge]
        return True

    def admits(self, edge: str, seq: int) -> bool:
        """Whether an entry numbered ``seq`` of ``edge`` may be handled at all: ``edge`` is
        known, or this is its announcement (1).  False: the edge was declared dead (or
        never announced itself), and must be told so."""
        return edge in self.upto or seq == 1

    def numbers(self, edge: str) -> tuple[int, list[int]]:
        """``edge``'s ``upto`` and ``above`` (sorted): which of its entries were handled."""
        return self.upto.get(edge, 0), sorted(self.above.get(edge, ()))

    def forget(self, edge: str) -> bool:
        """Forget ``edge`` (declared dead): nothing of it is kept, and none of its entries
        is handled from now on (``first_time`` and ``admits`` are False) but an
        announcement; whether it was known."""
        self.above.pop(edge, None)
        return self.upto.pop(edge, None) is not None

    def to_json(self) -> str:
        """Each edge's ``upto``, or ``[upto, [above...]]`` while a gap is open."""
        if not self.above:
            return json.dumps(self.upto, separators=_COMPACT)
        saved: dict[str, Any] = dict(self.upto)
        for edge, above in self.above.items():
            saved[edge] = [self.upto[edge], sorted(above)]
        return json.dumps(saved, separators=_COMPACT)

    @classmethod
    def from_json(cls, text: str) -> HandledInputs:
        """What ``to_json`` wrote (or an older core's number per edge); ``ValueError`` for
        anything else."""
        try:
            saved = json.loads(text)
            if not isinstance(saved, dict):
                raise TypeError("not an object")
            handled = cls()
            for edge, value in saved.items():
                if isinstance(value, list):
                    upto, above = value
                    handled.upto[str(edge)] = _number(upto, 0)
                    if above:
                        handled.above[str(edge)] = {_number(seq, upto + 1) for seq in above}
                else:
                    handled.upto[str(edge)] = _number(value, 0)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not the inputs handled: {exc}") from None
        return handled

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HandledInputs):
            return NotImplemented
        return (self.upto, self.above) == (other.upto, other.above)

    def __repr__(self) -> str:
        return f"HandledInputs(upto={self.upto!r}, above={self.above!r})"


def numbers_text(upto: int, above: list[int]) -> tuple[str, str]:
    """An edge's numbers (``HandledInputs.numbers``) as the two strings of the ``edge_gone``
    that tells it of its death (``cluster.core``): ``upto``, and ``above`` joined by commas."""
    return str(upto), ",".join(map(str, above))


def handled_by_text(upto: str, above: str) -> Callable[[int], bool] | None:
    """What ``numbers_text`` wrote, as whether each entry was handled; None when the
    farewell carries no numbers (one sent again for an entry dropped) or other text."""
    try:
        last = int(upto)
        past = {int(seq) for seq in above.split(",") if seq}
    except ValueError:
        return None
    return lambda seq: seq <= last or seq in past


def _filled(upto: int, above: set[int]) -> int:
    """``upto`` moved past the entries of ``above`` that follow it (taken out of it)."""
    while upto + 1 in above:
        upto += 1
        above.remove(upto)
    return upto


def _number(value: object, least: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(f"not an entry number >= {least}: {value!r}")
    return value
