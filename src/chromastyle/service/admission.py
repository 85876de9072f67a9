"""Admission control: a bounded number of requests per API class, the rest shed at once.

Each API class (colourise, stylise) has its own gate and its own threads, so a slow stylisation
never queues a colourisation behind it. A gate lets `concurrency` requests compute and
`queue_size` more wait; the next one gets 503 with a Retry-After estimated from recent service
times, immediately, instead of a 504 after the server's timeout. A request that waited longer
than `queue_timeout_s` is shed the same way.

A gate counts requests whose upload has arrived (waiting for a slot or computing), never ones
still uploading: a client that trickles its body in holds no compute place (UploadLimit bounds
those separately). A request that runs out of time is answered at once, but its compute slot
stays taken until its thread really finishes: Python cannot stop a thread, and a slot handed on
earlier would queue the next request behind invisible work.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("chromastyle.service")


class Overloaded(Exception):
    """The gate is full, the wait timed out, or the work outlived the request's deadline (`code`
    overloaded | timeout); retry_after_s says when to try again."""

    def __init__(self, gate: str, retry_after_s: int, reason: str, code: str = "overloaded"):
        super().__init__(f"{gate}: {reason}; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s
        self.code = code


class AdmissionGate:
    def __init__(self, name: str, concurrency: int, queue_size: int, queue_timeout_s: float):
        self.name = name
        self.concurrency = concurrency
        self.capacity = concurrency + queue_size
        self.queue_timeout_s = queue_timeout_s
        self.admitted = 0  # requests waiting for a slot or computing (work of timed-out requests included)
        self._abandoned: set[Future] = set()  # of those: work of requests already answered (timed out)
        self._slots = asyncio.Semaphore(concurrency)
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"{name}-")
        self._mean_service_s = 1.0  # exponential moving average of compute time, seeds Retry-After

    def retry_after_s(self) -> int:
        """Seconds until the queue ahead has probably drained (at least 1)."""
        return max(1, math.ceil(self._mean_service_s * (self.admitted + 1) / self.concurrency))

    def check(self) -> None:
        """Raise Overloaded if a request arriving now could not be admitted: called before its upload
        is read, so a full gate sheds at once and costs no upload."""
        if self.admitted >= self.capacity:
            raise Overloaded(self.name, self.retry_after_s(), f"{self.admitted} requests in progress (limit "
                                                              f"{self.capacity})")
        if len(self._abandoned) >= self.concurrency:
            raise Overloaded(self.name, self.retry_after_s(), f"all {self.concurrency} compute slots are still "
                                                              f"busy with requests that timed out")

    async def run(self, timeout_s: float, function: Callable[..., T], *args) -> T:
        """Admit, wait (bounded) for a compute slot, run `function(*args)` on this gate's threads, and
        answer within `timeout_s` (Overloaded with code `timeout` past it; the work goes on)."""
        self.check()
        self.admitted += 1
        handed_over = False
        try:
            started = time.monotonic()
            await self._acquire(min(self.queue_timeout_s, timeout_s))
            future = self._executor.submit(function, *args)
            handed_over = True
            self._release_when_done(future)
            return await self._await(future, timeout_s - (time.monotonic() - started))
        finally:
            if not handed_over:
                self.admitted -= 1

    async def _acquire(self, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=max(timeout_s, 0.001))
        except TimeoutError:
            raise Overloaded(self.name, self.retry_after_s(), f"waited {timeout_s:.3g} s for a free slot") from None

    async def _await(self, future: Future, timeout_s: float) -> T:
        """The work's result, or Overloaded(timeout) once `timeout_s` has passed; a timed-out job is
        counted as abandoned until its thread finishes."""
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout=max(timeout_s, 0.001))
        except TimeoutError:
            if not future.done():
                self._abandoned.add(future)
            raise Overloaded(self.name, self.retry_after_s(), "the request's time ran out while it was computing "
                                                              "(CHROMASTYLE_REQUEST_TIMEOUT_S); its work still holds "
                                                              "its slot until it ends", code="timeout") from None

    def _release_when_done(self, future: Future) -> None:
        """Give the slot back when the thread has finished (not when its awaiting request gives up)."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()

        def finished() -> None:
            self._slots.release()
            self.admitted -= 1
            seconds = time.perf_counter() - started
            self._mean_service_s = 0.8 * self._mean_service_s + 0.2 * seconds
            if future in self._abandoned:
                self._abandoned.discard(future)
                log.warning("%s: the work of a timed-out request ended after %.1f s; its slot is free again",
                            self.name, seconds)

        def on_done(_: Future) -> None:  # runs on the worker thread: hand over to the event loop
            try:
                loop.call_soon_threadsafe(finished)
            except RuntimeError:  # the loop is closed: the server is shutting down
                pass

        future.add_done_callback(on_done)


class UploadLimit:
    """At most `limit` request bodies being received at once by a worker: uploads are not computing,
    so they never take a gate's place, but each holds buffers (up to max_upload_bytes once read)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.in_flight = 0

    def __enter__(self) -> UploadLimit:
        if self.in_flight >= self.limit:
            raise Overloaded("uploads", 5, f"{self.in_flight} uploads in progress (limit {self.limit}, "
                                           f"package.max_uploads_in_flight)")
        self.in_flight += 1
        return self

    def __exit__(self, *exc_info) -> None:
        self.in_flight -= 1
