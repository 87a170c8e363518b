"""The public client classes: the Rust clients with coroutine methods.

The extension returns asyncio futures; ``asyncio.create_task()`` wants coroutines, so each
method is a one-line ``async def`` over the Rust one (cancelling the task still cancels the
request on the server).
"""

from __future__ import annotations

from typing import Any

from . import _core
from ._core import CallToolResult, GetPromptResult, Prompt, ReadResourceResult, Resource, ServerInfo, Tool

__all__ = ["StdioClient", "StreamableHTTPClient", "SSEClient"]


class _Coroutines:
    """Coroutine versions of the MCP methods of ``_core.MCPClientBase``."""

    __slots__ = ()

    async def initialize(self) -> ServerInfo:
        """Starts (stdio) or reaches (HTTP) the server and performs the MCP handshake.
        Calling it on a connected client returns the same ``ServerInfo``."""
        return await super().initialize()  # type: ignore[misc]

    async def close(self) -> None:
        """Ends the session; a stdio server's whole process group is stopped. Idempotent."""
        return await super().close()  # type: ignore[misc]

    async def list_tools(self, *, timeout: float | None = None) -> list[Tool]:
        """All tools of the server (pagination followed to the end)."""
        return await super().list_tools(timeout=timeout)  # type: ignore[misc]

    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> CallToolResult:
        """Calls a tool. A tool that fails returns a result with ``is_error=True``."""
        return await super().call_tool(name, arguments, timeout=timeout)  # type: ignore[misc]

    async def list_resources(self, *, timeout: float | None = None) -> list[Resource]:
        """All resources of the server."""
        return await super().list_resources(timeout=timeout)  # type: ignore[misc]

    async def read_resource(self, uri: str, *, timeout: float | None = None) -> ReadResourceResult:
        """Reads one resource by URI."""
        return await super().read_resource(uri, timeout=timeout)  # type: ignore[misc]

    async def list_prompts(self, *, timeout: float | None = None) -> list[Prompt]:
        """All prompts of the server."""
        return await super().list_prompts(timeout=timeout)  # type: ignore[misc]

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> GetPromptResult:
        """Renders a prompt with its arguments."""
        return await super().get_prompt(name, arguments, timeout=timeout)  # type: ignore[misc]

    async def ping(self, *, timeout: float | None = None) -> None:
        """Checks that the server answers."""
        return await super().ping(timeout=timeout)  # type: ignore[misc]


class StdioClient(_Coroutines, _core.StdioClient):
    __doc__ = _core.StdioClient.__doc__
    __slots__ = ()


class StreamableHTTPClient(_Coroutines, _core.StreamableHTTPClient):
    __doc__ = _core.StreamableHTTPClient.__doc__
    __slots__ = ()


class SSEClient(_Coroutines, _core.SSEClient):
    __doc__ = _core.SSEClient.__doc__
    __slots__ = ()


for _cls in (StdioClient, StreamableHTTPClient, SSEClient):
    _cls.__module__ = "mcpfleet"
