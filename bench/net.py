"""Ports, health and waiting: one way for the whole harness to do each.

A free port, a server's ``/api/health/`` status, and a wait for a condition come from
here, whether the caller is a step's server, an embedded service, a fault run or a test.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx

HOST = "127.0.0.1"
HEALTH_PATH = "/api/health/"


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the servers bind: a port whose last connections linger in TIME_WAIT (a
        # server just stopped) is free for them, and must be for its own restart.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port(preferred: int | None = None) -> int:
    """``preferred`` while it is free, else any port the kernel hands out."""
    if preferred and port_free(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def health_status(base_url: str, timeout: float = 2.0) -> int | None:
    """The status ``/api/health/`` answers with, or None while nothing answers."""
    try:
        return httpx.get(base_url + HEALTH_PATH, timeout=timeout).status_code
    except httpx.HTTPError:
        return None


def wait_until[T](
    check: Callable[[], T],
    seconds: float,
    message: str,
    *,
    interval: float = 0.1,
    error: type[Exception] = TimeoutError,
) -> T:
    """Call ``check`` until it returns something true, and return that.

    After ``seconds`` without it, raise ``error(message)``. ``check`` may raise to give
    up early (a server whose process has exited will never answer).
    """
    deadline = time.monotonic() + seconds
    while True:
        if found := check():
            return found
        if time.monotonic() >= deadline:
            raise error(message)
        time.sleep(interval)
