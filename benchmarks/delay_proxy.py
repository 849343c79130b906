"""A TCP proxy that delays every chunk by a fixed time each way: a far-away database, locally.

Real Supabase projects are tens of milliseconds away, so round trips dominate a migration
run. The proxy keeps order and does not limit bandwidth: each chunk read on one side is
written to the other side `delay` seconds after it arrived.

    with DelayProxy(("127.0.0.1", 5432), delay=0.010) as proxy:
        ... connect to 127.0.0.1:proxy.port ...
        proxy.round_trips, proxy.connections  # what the client paid for, as counted here
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from types import TracebackType

_TERMINATE = b"X\x00\x00\x00\x04"  # the protocol's Terminate message: no answer comes


class DelayProxy:
    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.Server | None = None
        # Round trips as the client pays them: each time it sends after the server spoke (or
        # first), on every connection; and the connections opened. Reset by the caller.
        self.round_trips = 0
        self.connections = 0

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        # Cancelled connection handlers would each log a CancelledError: nothing to report.
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: None)
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self.connections += 1
        last: list[str] = [""]  # the direction of this connection's last chunk
        await asyncio.gather(
            self._pipe(reader, up_writer, "up", last),
            self._pipe(up_reader, writer, "down", last),
            return_exceptions=True,
        )

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: str = "up",
        last: list[str] | None = None,
    ) -> None:
        """Read chunks as they come; a second task writes each one `delay` after its arrival."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not chunk:
                    break
                writer.write(chunk)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.close()

        sender = asyncio.ensure_future(deliver())
        try:
            while chunk := await reader.read(65536):
                queue.put_nowait((time.monotonic() + self.delay, chunk))
                speaks = direction == "up" and chunk != _TERMINATE  # (a goodbye waits for nothing)
                if last is not None and speaks and last[0] != "up":
                    self.round_trips += 1  # the client speaks again after the server did
                if last is not None:
                    last[0] = direction
        except OSError:
            pass
        queue.put_nowait((time.monotonic() + self.delay, b""))
        await sender
