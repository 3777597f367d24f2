"""The message bus of a cluster of c4actors processes (issue 16): Redis Streams behind a
small interface, with an in-memory twin for unit tests.

``Bus`` (the interface and its promises), ``InMemoryBus``, ``open_redis_bus`` (a
``RedisBus``), ``StreamFollower`` (the read-and-resume loop), and the records that cross
it.  See ``docs/architecture.md``, "The bus".
"""

from c4actors.bus.follower import StreamFollower
from c4actors.bus.interface import DEFAULT_COUNT, Bus
from c4actors.bus.memory import InMemoryBus
from c4actors.bus.records import (
    START,
    Ack,
    Append,
    BusError,
    BusUnavailable,
    DeleteField,
    Entry,
    Expire,
    Fenced,
    Lease,
    Operation,
    PutField,
    PutFields,
    StreamId,
    parse_id,
)
from c4actors.bus.redis_streams import RedisBus, open_redis_bus

__all__ = [
    "DEFAULT_COUNT",
    "START",
    "Ack",
    "Append",
    "Bus",
    "BusError",
    "BusUnavailable",
    "DeleteField",
    "Entry",
    "Expire",
    "Fenced",
    "InMemoryBus",
    "Lease",
    "Operation",
    "PutField",
    "PutFields",
    "RedisBus",
    "StreamFollower",
    "StreamId",
    "open_redis_bus",
    "parse_id",
]
