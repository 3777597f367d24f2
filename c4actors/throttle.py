"""Failed-login throttling that stops guessing without letting anyone lock an owner out.

Three rules, each over a sliding window of failures (15 minutes by default):

* **per (name, address) pair**: 5 failures for one name from one address, then that
  address waits before trying that name again (a guesser at one keyboard);
* **per address**: 20 failures from one address, whatever the names, then it waits
  (one address trying many names);
* **per name, from everywhere**: a name may fail 10 times in a window without delay;
  beyond that, every further try from an address the name has not signed in from must
  wait after the name's last failure, a delay that doubles with each failure (1 s, 2 s,
  4 s, ...) up to a cap (60 s). A name attacked from many addresses is slowed to one
  guess a minute instead of being locked: its owner is never refused for longer than the
  cap, and not at all from an address they signed in from before (up to 8 addresses per
  name are remembered for 30 days; OWASP's "device cookie" idea, by address).

Failures on one name from one address never delay that name elsewhere until the name's
own budget is spent, so failed tries from one place cannot lock the owner out anywhere
else (issue 11: 25 failures from one address used to lock the owner out everywhere).

Pure: the clock is passed in (``now``, seconds, monotonic), so the tests run it without
waiting. Memory: every record expires with its window; ``sweep`` drops expired records,
and ``failed`` calls it whenever the records double since the last sweep.
"""

from __future__ import annotations

import collections
from typing import Final, TypeVar

import attrs

K = TypeVar("K")

WINDOW_SECONDS: Final = 15 * 60
MAX_FAILURES_PER_PAIR: Final = 5
MAX_FAILURES_PER_ADDRESS: Final = 20
FREE_FAILURES_PER_NAME: Final = 10
NAME_DELAY_BASE: Final = 1.0
NAME_DELAY_CAP: Final = 60.0
KNOWN_ADDRESSES_PER_NAME: Final = 8
KNOWN_ADDRESS_SECONDS: Final = 30 * 24 * 3600


def _name_key(name: str) -> str:
    return name.casefold()


@attrs.define
class LoginThrottle:
    """See the module docstring. Ask ``retry_after`` before checking a password; report
    the outcome with ``failed`` or ``succeeded``."""

    window: float = WINDOW_SECONDS
    per_pair: int = MAX_FAILURES_PER_PAIR
    per_address: int = MAX_FAILURES_PER_ADDRESS
    free_per_name: int = FREE_FAILURES_PER_NAME
    name_delay_base: float = NAME_DELAY_BASE
    name_delay_cap: float = NAME_DELAY_CAP
    known_per_name: int = KNOWN_ADDRESSES_PER_NAME
    known_for: float = KNOWN_ADDRESS_SECONDS
    _pairs: dict[tuple[str, str], collections.deque[float]] = attrs.field(factory=dict)
    _addresses: dict[str, collections.deque[float]] = attrs.field(factory=dict)
    _names: dict[str, collections.deque[float]] = attrs.field(factory=dict)
    _known: dict[str, dict[str, float]] = attrs.field(factory=dict)
    """Per name: the addresses it signed in from, with when (oldest first)."""
    _swept_at_size: int = 0

    def retry_after(self, name: str, address: str, now: float) -> float:
        """Seconds until a login for ``name`` from ``address`` may be tried (0: now)."""
        key = _name_key(name)
        waits = [
            _window_wait(self._pairs, (key, address), self.per_pair, self.window, now),
            _window_wait(self._addresses, address, self.per_address, self.window, now),
            0.0 if self._is_known(key, address, now) else self._name_wait(key, now),
        ]
        return max(waits)

    def failed(self, name: str, address: str, now: float) -> None:
        key = _name_key(name)
        self._pairs.setdefault((key, address), collections.deque()).append(now)
        self._addresses.setdefault(address, collections.deque()).append(now)
        failures = self._names.setdefault(key, collections.deque())
        failures.append(now)
        # Only the latest failures matter to the delay: keep the deque bounded.
        while len(failures) > self.free_per_name + 64:
            failures.popleft()
        if self.size() > max(1024, 2 * self._swept_at_size):
            self.sweep(now)

    def succeeded(self, name: str, address: str, now: float) -> None:
        """The right password: forget this pair's failures and remember the address."""
        key = _name_key(name)
        self._pairs.pop((key, address), None)
        known = self._known.setdefault(key, {})
        known.pop(address, None)
        known[address] = now
        while len(known) > self.known_per_name:
            del known[next(iter(known))]

    def size(self) -> int:
        """How many records are kept (for the memory bound)."""
        return len(self._pairs) + len(self._addresses) + len(self._names) + len(self._known)

    def sweep(self, now: float) -> None:
        """Drop every record whose window (or memory of a sign-in) has passed."""
        _drop_expired(self._pairs, self.window, now)
        _drop_expired(self._addresses, self.window, now)
        _drop_expired(self._names, self.window, now)
        for name in list(self._known):
            known = self._known[name]
            for address in [a for a, at in known.items() if at <= now - self.known_for]:
                del known[address]
            if not known:
                del self._known[name]
        self._swept_at_size = self.size()

    def _is_known(self, key: str, address: str, now: float) -> bool:
        signed_in_at = self._known.get(key, {}).get(address)
        return signed_in_at is not None and signed_in_at > now - self.known_for

    def _name_wait(self, key: str, now: float) -> float:
        failures = self._names.get(key)
        if not failures:
            return 0.0
        _expire(failures, self.window, now)
        if not failures:
            del self._names[key]
            return 0.0
        beyond = len(failures) - self.free_per_name
        if beyond < 0:
            return 0.0
        delay = min(self.name_delay_cap, self.name_delay_base * 2.0 ** min(beyond, 32))
        return max(0.0, failures[-1] + delay - now)


def _expire(times: collections.deque[float], window: float, now: float) -> None:
    while times and times[0] <= now - window:
        times.popleft()


def _window_wait(
    table: dict[K, collections.deque[float]], key: K, limit: int, window: float, now: float
) -> float:
    """The wait a sliding window of ``limit`` failures per ``window`` imposes on ``key``."""
    times = table.get(key)
    if not times:
        return 0.0
    _expire(times, window, now)
    if not times:
        del table[key]
        return 0.0
    if len(times) < limit:
        return 0.0
    # ``min``: float rounding of ``oldest + window - now`` could exceed the window by 1e-14.
    return min(window, times[-limit] + window - now)


def _drop_expired(table: dict[K, collections.deque[float]], window: float, now: float) -> None:
    for key in [key for key, times in table.items() if not times or times[-1] <= now - window]:
        del table[key]


REGISTRATIONS_PER_ADDRESS: Final = 5
REGISTRATION_WINDOW_SECONDS: Final = 3600.0


@attrs.define
class RegistrationLimit:
    """Accounts one address may create per window (an hour): a sliding window, so one
    address cannot fill the database with accounts (issue 11: 265 in 30 s).

    ``reserve`` before creating the account and ``release`` if it was not created (a taken
    name, a store failure): refused attempts cost nothing, and concurrent registrations
    cannot all pass the check before the first one counts. ``per_address=0`` disables
    the limit. Pure (``now`` is passed in); expired records are swept as in
    ``LoginThrottle``."""

    per_address: int = REGISTRATIONS_PER_ADDRESS
    window: float = REGISTRATION_WINDOW_SECONDS
    _times: dict[str, collections.deque[float]] = attrs.field(factory=dict)
    _swept_at_size: int = 0

    def reserve(self, address: str, now: float) -> float:
        """Count a registration from ``address`` and return 0, or return the seconds until
        one is allowed (nothing counted)."""
        if self.per_address <= 0:
            return 0.0
        wait = _window_wait(self._times, address, self.per_address, self.window, now)
        if wait > 0:
            return wait
        self._times.setdefault(address, collections.deque()).append(now)
        if len(self._times) > max(1024, 2 * self._swept_at_size):
            _drop_expired(self._times, self.window, now)
            self._swept_at_size = len(self._times)
        return 0.0

    def release(self, address: str) -> None:
        """Undo a ``reserve`` from ``address`` (the latest: with concurrent registrations
        from one address, which one does not change the count)."""
        times = self._times.get(address)
        if times:
            times.pop()
            if not times:
                del self._times[address]

    def size(self) -> int:
        return len(self._times)
