"""The gateway's shared BACnet/IP applications, one per local address.

Every BACnet driver of a gateway talks through one local application (one UDP port): two
applications on one port would split the traffic. Drivers acquire the stack when they
start and release it when they stop; the last release closes the port.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from drivers.bacnet.stack import BacnetStack


@dataclass
class _Entry:
    stack: BacnetStack
    started: asyncio.Task[None]
    users: int = 0


_stacks: dict[str, _Entry] = {}


async def acquire_stack(local_address: str, bbmd: str | None, ttl_s: int = 300) -> BacnetStack:
    """The started stack bound to ``local_address`` (started on first use)."""
    entry = _stacks.get(local_address)
    if entry is None:
        stack = BacnetStack(local_address, bbmd=bbmd, ttl_s=ttl_s)
        entry = _stacks[local_address] = _Entry(stack, asyncio.ensure_future(stack.start()))
    elif entry.stack.bbmd != bbmd:
        raise ValueError(
            f"BACnet local address {local_address} is already used with BBMD "
            f"{entry.stack.bbmd!r}; every BACnet device on one local address must name "
            f"the same BBMD (got {bbmd!r})"
        )
    entry.users += 1
    try:
        await asyncio.shield(entry.started)
    except BaseException:
        entry.users -= 1
        if _stacks.get(local_address) is entry and entry.started.done():
            del _stacks[local_address]
        raise
    return entry.stack


def release_stack(stack: BacnetStack) -> None:
    """Give the stack back; the last user closes it."""
    entry = _stacks.get(stack.local_address)
    if entry is None or entry.stack is not stack:
        return
    entry.users -= 1
    if entry.users <= 0:
        del _stacks[stack.local_address]
        stack.close()
