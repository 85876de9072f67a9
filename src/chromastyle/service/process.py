"""Worker-process hardening: a memory ceiling, and no orphans.

- Memory: the worker lowers its own address-space limit (RLIMIT_AS) to package.memory_limit_mb.
  The request bounds keep a worker far below it; the limit is the backstop that turns a bug into
  a refused request (an allocation fails inside the worker, the request gets 503) instead of the
  kernel's OOM killer taking down the machine.
- Orphans: `bentoml serve` is a supervisor (circus) with worker children. If the supervisor is
  SIGKILLed, a child would live on holding the port. Each worker asks the kernel for SIGTERM when
  its parent dies (PR_SET_PDEATHSIG), so it shuts down with it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import signal
import sys

log = logging.getLogger("chromastyle.service")

PR_SET_PDEATHSIG = 1
M_ARENA_MAX = -8


def limit_address_space(megabytes: int) -> None:
    """Lower RLIMIT_AS to `megabytes` (0 = leave it); never raises it above the current hard limit."""
    if megabytes <= 0:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = megabytes * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft <= wanted:
        return
    resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    log.info("worker address space limited to %d MB (package.memory_limit_mb)", wanted // (1024 * 1024))


def die_with_parent() -> None:
    """SIGTERM this process when its parent (the supervisor) dies, even by SIGKILL (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d): run under systemd or a container runtime "
                    "so that workers stop with the supervisor", ctypes.get_errno())
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives every thread that allocates its own 64 MB arena of address space; a few are
    enough for a handful of compute threads and keep the address-space ceiling meaningful."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas)
