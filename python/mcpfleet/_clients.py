"""The public client classes.

Their methods are the Rust ones: each returns a ``PendingCall``, an awaitable that also speaks
the coroutine protocol, so ``await``, ``asyncio.create_task()``, ``gather`` and ``wait_for`` all
take it, and cancelling the awaiting task cancels the request on the server.
"""

from __future__ import annotations

import collections.abc

from . import _core

__all__ = ["StdioClient", "StreamableHTTPClient", "SSEClient"]

collections.abc.Coroutine.register(_core.PendingCall)


class StdioClient(_core.StdioClient):
    __doc__ = _core.StdioClient.__doc__
    __slots__ = ()


class StreamableHTTPClient(_core.StreamableHTTPClient):
    __doc__ = _core.StreamableHTTPClient.__doc__
    __slots__ = ()


class SSEClient(_core.SSEClient):
    __doc__ = _core.SSEClient.__doc__
    __slots__ = ()


for _cls in (StdioClient, StreamableHTTPClient, SSEClient):
    _cls.__module__ = "mcpfleet"
