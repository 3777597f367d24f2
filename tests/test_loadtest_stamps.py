"""The load tester's round trips leave its own turns out (``c4actors.loadtest.stamps``).

Each test makes the load tester late on purpose, the way 2,000 connections in one process
made it late in the open loop (issue 17): a send whose write waits behind trio-websocket's
stream lock, and a reply that sits in the socket while the tester's event loop is busy.  The
stamps must say when the write went out and when the reply arrived, not when the tester got
round to it.  Real sockets on loopback; the echo peer is a separate process, so blocking this
process's loop does not stop it from answering.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from c4actors.loadtest import LoadSettings
from c4actors.loadtest.connection import Client, connect
from c4actors.loadtest.loadrun import LoadRun
from c4actors.loadtest.stamps import StampedStream, WriteStamp, stamping_writes
from c4actors.server_process import running_server

ECHO_SERVER = Path(__file__).resolve().parent.parent / "bench" / "echo_server.py"
LATE = 0.3
"""How long a test keeps the load tester busy: far longer than a loopback round trip."""
SLEW = 0.001
"""Arrivals are the kernel's wall-clock stamps converted to Trio's clock: an NTP slew of
0.05% over ``LATE`` moves them by 0.15 ms at most."""

linux_only = pytest.mark.skipif(
    sys.platform != "linux", reason="kernel receive stamps (SO_TIMESTAMPNS) are Linux's"
)


def hold_the_loop() -> None:
    """Keep this process's event loop from running for ``LATE`` seconds, as the load tester's
    long turns under 2,000 connections did (on purpose: a blocking call)."""
    time.sleep(LATE)


@asynccontextmanager
async def echo_client() -> AsyncIterator[Client]:
    """A load-tester connection to ``bench/echo_server.py`` running in its own process."""
    with running_server(["--port", "0"], command=[sys.executable, str(ECHO_SERVER)]) as echo:
        settings = LoadSettings(scenario="echo", url=echo.ws_url, quiet=True, send_rate=0)
        async with connect(LoadRun(settings), None, ramp=False) as client:
            yield client


async def test_a_send_is_stamped_at_its_write_not_before_the_stream_lock() -> None:
    async with echo_client() as client:
        released = 0.0

        async def hold_the_lock(task_status: trio.TaskStatus[None]) -> None:
            nonlocal released
            async with client.ws._stream_lock:
                task_status.started()
                await trio.sleep(LATE)
                released = trio.current_time()

        async with trio.open_nursery() as nursery:
            await nursery.start(hold_the_lock)
            await client.send_text("late")
        assert client.sent_at >= released > 0
        assert await client.receive() == "late"


@linux_only
async def test_a_reply_is_stamped_at_its_arrival_however_late_the_loop_reads_it() -> None:
    async with echo_client() as client:
        await client.send_text("busy")
        sent_at = client.sent_at
        hold_the_loop()
        assert await client.receive() == "busy"
        done = trio.current_time()
    assert done - sent_at >= LATE
    assert -SLEW <= client.received_at - sent_at < LATE / 2


@linux_only
async def until_the_kernel_stamps(stream: StampedStream, peer: trio.SocketStream) -> None:
    """Exchange bytes until a read carries the kernel's stamp: with no other socket asking
    for stamps, Linux turns them on a moment after this one did (measured here: the first
    segment had none in 34 runs of 200), and the test would time the read instead."""
    for _ in range(100):
        await peer.send_all(b".")
        assert await stream.receive_some() == b"."
        if stream.kernel_stamped:
            return
        await trio.sleep(0.01)
    raise AssertionError("the kernel never stamped a read")


async def test_the_stream_stamps_the_kernels_receive_time_and_this_tasks_writes() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with listeners[0], await trio.open_tcp_stream("127.0.0.1", port) as plain:
        peer = await listeners[0].accept()
        async with peer:
            stream = StampedStream(plain)
            assert stream.kernel_stamps
            await until_the_kernel_stamps(stream, peer)
            before = trio.current_time()
            await peer.send_all(b"first")
            hold_the_loop()
            assert await stream.receive_some() == b"first"
            assert stream.kernel_stamped
            # The kernel's clock is the wall clock: allow it a slewing NTP's millisecond.
            assert before - SLEW <= stream.arrived_at < before + LATE / 2

            mine, theirs = WriteStamp(), WriteStamp()
            with stamping_writes(mine):
                before = trio.current_time()
                await stream.send_all(b"second")
            assert before <= mine.at <= trio.current_time()
            assert theirs.at == 0.0  # a write outside the block stamps nothing
            await stream.send_all(b"third")
            assert mine.at <= before + LATE
            assert await peer.receive_some() == b"secondthird"


async def test_the_streams_own_calls_keep_every_byte_and_report_closing() -> None:
    """Its direct writes and reads (for the tester's CPU): a write larger than the kernel
    takes at once still arrives whole and in order, after the part the kernel did take;
    the peer's close reads as EOF, and using the stream after its own close is an error."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with listeners[0], await trio.open_tcp_stream("127.0.0.1", port) as plain:
        peer = await listeners[0].accept()
        stream = StampedStream(plain)
        big = bytes(range(256)) * 40_000  # 10 MB: more than loopback buffers hold

        async def read_all(task_status: trio.TaskStatus[None]) -> None:
            task_status.started()
            received = bytearray()
            while len(received) < len(big) + 4:
                received += await peer.receive_some()
            assert bytes(received) == big + b"tail"

        async with trio.open_nursery() as nursery:
            await nursery.start(read_all)
            await stream.send_all(big)
            await stream.send_all(b"tail")
        await peer.send_all(b"back")
        assert await stream.receive_some() == b"back"
        await peer.aclose()
        assert await stream.receive_some() == b""
        await stream.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await stream.receive_some()
        with pytest.raises(trio.ClosedResourceError):
            await stream.send_all(b"x")
