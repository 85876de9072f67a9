"""Admission control: a bounded number of requests per API class, the rest shed at once.

Each API class (colourise, stylise) has its own gate and its own threads, so a slow stylisation
never queues a colourisation behind it. A gate lets `concurrency` requests compute and
`queue_size` more wait; the next one gets 503 with a Retry-After estimated from recent service
times, immediately, instead of a 504 after the server's timeout. A request that waited longer
than `queue_timeout_s` is shed the same way.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Overloaded(Exception):
    """The gate is full (or the wait timed out); retry_after_s says when to try again."""

    def __init__(self, gate: str, retry_after_s: int, reason: str):
        super().__init__(f"{gate}: {reason}; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class AdmissionGate:
    def __init__(self, name: str, concurrency: int, queue_size: int, queue_timeout_s: float):
        self.name = name
        self.concurrency = concurrency
        self.capacity = concurrency + queue_size
        self.queue_timeout_s = queue_timeout_s
        self.admitted = 0  # requests inside: reading their upload, waiting, or computing
        self._slots = asyncio.Semaphore(concurrency)
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"{name}-")
        self._mean_service_s = 1.0  # exponential moving average of compute time, seeds Retry-After

    def retry_after_s(self) -> int:
        """Seconds until the queue ahead has probably drained (at least 1)."""
        return max(1, math.ceil(self._mean_service_s * (self.admitted + 1) / self.concurrency))

    def admit(self) -> "_Admission":
        """Enter the gate or raise Overloaded; use as `with gate.admit() as admission:`."""
        if self.admitted >= self.capacity:
            raise Overloaded(self.name, self.retry_after_s(), f"{self.admitted} requests in progress (limit "
                                                              f"{self.capacity})")
        return _Admission(self)

    async def run(self, function: Callable[..., T], *args) -> T:
        """Wait (bounded) for a compute slot, then run `function(*args)` on this gate's threads."""
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.queue_timeout_s)
        except TimeoutError:
            raise Overloaded(self.name, self.retry_after_s(),
                             f"waited {self.queue_timeout_s:g} s for a free slot") from None
        started = time.perf_counter()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        finally:
            self._slots.release()
            self._mean_service_s = 0.8 * self._mean_service_s + 0.2 * (time.perf_counter() - started)


class _Admission:
    def __init__(self, gate: AdmissionGate):
        self.gate = gate

    def __enter__(self) -> AdmissionGate:
        self.gate.admitted += 1
        return self.gate

    def __exit__(self, *exc_info) -> None:
        self.gate.admitted -= 1
