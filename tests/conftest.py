"""Suite-wide conventions: free loopback ports, no leaked tasks or threads.

- ``free_tcp_port`` / ``free_udp_port``: a port on 127.0.0.1 nobody listens on now.
  Prefer binding port 0 and reading the real port back where a server allows it.
- Every test fails if it leaves asyncio tasks or non-daemon threads running.
- Wait for readiness (a server's start coroutine, a "ready" line), never sleep.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def free_tcp_port() -> int:
    return _free_port(socket.SOCK_STREAM)


@pytest.fixture
def free_udp_port() -> int:
    return _free_port(socket.SOCK_DGRAM)


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = {t.ident for t in threading.enumerate()}
    yield
    leaked = []
    for thread in threading.enumerate():
        if thread.ident in before or thread.daemon or not thread.is_alive():
            continue
        thread.join(timeout=2.0)
        if thread.is_alive():
            leaked.append(thread.name)
    assert not leaked, f"test leaked threads: {leaked}"


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    yield
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    for _ in range(10):
        if not pending:
            break
        await asyncio.sleep(0.01)
        pending = [t for t in pending if not t.done()]
    for task in pending:
        task.cancel()
    assert not pending, f"test leaked asyncio tasks: {[t.get_coro() for t in pending]}"
