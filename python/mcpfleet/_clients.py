"""The public client classes.

Their methods are the Rust ones: each returns a ``PendingCall``, an awaitable that also speaks
the coroutine protocol, so ``await``, ``asyncio.create_task()``, ``gather`` and ``wait_for`` all
take it, and cancelling the awaiting task cancels the request on the server.
"""

from __future__ import annotations

import collections.abc

from . import _core

__all__ = ["StdioClient", "StreamableHTTPClient", "SSEClient", "DynamicAuthClient"]

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


class DynamicAuthClient(_core.StreamableHTTPClient):
    """A streamable-HTTP client whose bearer token comes from ``token_provider`` on every
    request (POST, GET stream, session DELETE), so a refreshed token is used at once.

    ``token_provider`` is a callable, sync or ``async``, or an object with a
    ``get_access_token()`` method; it returns the token (without ``Bearer``) or None for no
    ``Authorization`` header. It runs on the event loop the client is used from, within
    ``token_timeout`` seconds; when it raises, the request fails with ``TokenProviderError``
    whose ``__cause__`` is the provider's exception. The other arguments are
    ``StreamableHTTPClient``'s.
    """

    __slots__ = ()

    def __new__(cls, url: str, token_provider, headers=None, timeout: float = 30.0, **kwargs):
        if token_provider is None:
            raise TypeError("DynamicAuthClient needs a token_provider")
        return super().__new__(cls, url, headers, timeout, token_provider=token_provider, **kwargs)
