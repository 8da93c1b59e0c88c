"""A BACnet request that ignores its cancellation still ends in a timeout error on time:
the poll loop and the islanding loop that share the stack must not wait for it."""

from __future__ import annotations

import asyncio
import time

import pytest

from drivers.bacnet.stack import BacnetRequestError, BacnetStack


async def _ignores_cancellation(release: asyncio.Event) -> str:
    while True:
        try:
            await release.wait()
            return "late answer"
        except asyncio.CancelledError:
            continue  # a library that swallows the cancellation and keeps waiting


async def test_a_request_that_ignores_cancellation_times_out_within_twice_its_timeout() -> None:
    stack = BacnetStack("127.0.0.1/8:0")  # call() needs no started application
    release = asyncio.Event()
    started = time.monotonic()
    with pytest.raises(BacnetRequestError) as raised:
        await stack.call(_ignores_cancellation(release), 0.2)
    assert raised.value.kind == "timeout"
    assert time.monotonic() - started < 2.0
    release.set()  # let the abandoned request end, so the test leaves no task behind
    await asyncio.sleep(0)
    await asyncio.sleep(0)
