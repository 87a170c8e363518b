"""mcpfleet: run MCP servers from Python on a Rust core.

Clients for the three MCP transports share one interface (:class:`MCPClient`):
:class:`StdioClient` (a child process), :class:`StreamableHTTPClient` and :class:`SSEClient`
(legacy HTTP+SSE). Every network or process operation is ``async``.
"""

from __future__ import annotations

import atexit
from typing import Any, Protocol, runtime_checkable

from ._errors import (
    AuthRequiredError,
    ConfigError,
    MCPFleetError,
    ProtocolError,
    RequestTimeoutError,
    ServerError,
    ServerExitedError,
    ServerNotFoundError,
    ServerNotRunningError,
    ServerStartError,
    ToolNotFoundError,
    TransportError,
)
from ._core import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    GetPromptResult,
    ImageContent,
    MCPClientBase,
    MCPClientConfig,
    MCPServerInfo,
    McpDiscreteStatusUpdate,
    PendingCall,
    Prompt,
    PromptArgument,
    PromptMessage,
    ReadResourceResult,
    Resource,
    ResourceLink,
    ServerInfo,
    TextContent,
    TextResourceContents,
    Tool,
    ToolMetadata,
    __version__,
    new_mcp_client_from_type,
)
from . import _core
from ._clients import SSEClient, StdioClient, StreamableHTTPClient
from ._fleet import Adapter, MCPServer

#: Seconds a stdio server may take to start and answer ``initialize``.
DEFAULT_STDIO_INIT_TIMEOUT: float = 10.0
#: Key naming the OAuth client id where credentials come from a mapping or secret.
DEFAULT_CLIENT_ID_KEY: str = "client-id"
#: Key naming the OAuth client secret where credentials come from a mapping or secret.
DEFAULT_CLIENT_SECRET_KEY: str = "client-secret"


@runtime_checkable
class MCPClient(Protocol):
    """What every mcpfleet client offers, whatever its transport."""

    async def initialize(self) -> ServerInfo: ...
    async def close(self) -> None: ...
    async def list_tools(self, *, timeout: float | None = None) -> list[Tool]: ...
    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> CallToolResult: ...
    async def list_resources(self, *, timeout: float | None = None) -> list[Resource]: ...
    async def read_resource(self, uri: str, *, timeout: float | None = None) -> ReadResourceResult: ...
    async def list_prompts(self, *, timeout: float | None = None) -> list[Prompt]: ...
    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> GetPromptResult: ...
    async def ping(self, *, timeout: float | None = None) -> None: ...


# Stdio servers end with the interpreter, also when their clients were never closed.
atexit.register(_core._at_exit)

__all__ = [
    "Adapter",
    "MCPServer",
    "MCPServerInfo",
    "McpDiscreteStatusUpdate",
    "ServerNotFoundError",
    "ToolMetadata",
    "AudioContent",
    "AuthRequiredError",
    "BlobResourceContents",
    "CallToolResult",
    "ConfigError",
    "DEFAULT_CLIENT_ID_KEY",
    "DEFAULT_CLIENT_SECRET_KEY",
    "DEFAULT_STDIO_INIT_TIMEOUT",
    "EmbeddedResource",
    "GetPromptResult",
    "ImageContent",
    "MCPClient",
    "MCPClientBase",
    "MCPClientConfig",
    "MCPFleetError",
    "PendingCall",
    "Prompt",
    "PromptArgument",
    "PromptMessage",
    "ProtocolError",
    "ReadResourceResult",
    "RequestTimeoutError",
    "Resource",
    "ResourceLink",
    "SSEClient",
    "ServerError",
    "ServerExitedError",
    "ServerInfo",
    "ServerNotRunningError",
    "ServerStartError",
    "StdioClient",
    "StreamableHTTPClient",
    "TextContent",
    "TextResourceContents",
    "Tool",
    "ToolNotFoundError",
    "TransportError",
    "__version__",
    "new_mcp_client_from_type",
]
