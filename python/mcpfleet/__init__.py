"""mcpfleet: run MCP servers from Python on a Rust core.

Clients for the three MCP transports share one interface (:class:`MCPClient`):
:class:`StdioClient` (a child process), :class:`StreamableHTTPClient` and :class:`SSEClient`
(legacy HTTP+SSE). Every network or process operation is ``async``.
"""

from __future__ import annotations

import atexit
TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up time)

from ._errors import (
    AuthError,
    AuthRequiredError,
    ConfigError,
    MCPFleetError,
    OAuthError,
    ProtocolError,
    RequestTimeoutError,
    ServerError,
    ServerExitedError,
    ServerNotFoundError,
    ServerNotRunningError,
    ServerStartError,
    TokenProviderError,
    ToolNotFoundError,
    TransportError,
)
from ._core import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    ElicitationRequest,
    EmbeddedResource,
    GatewayServer,
    GetPromptResult,
    ImageContent,
    LogMessage,
    MCPClientBase,
    MCPClientConfig,
    FileTokenStore,
    MCPServerInfo,
    McpDiscreteStatusUpdate,
    OAuth,
    PendingCall,
    Prompt,
    PromptArgument,
    PromptMessage,
    ReadResourceResult,
    Resource,
    ResourceLink,
    ResourceTemplate,
    SamplingRequest,
    ServerInfo,
    TextContent,
    TextResourceContents,
    Tool,
    ToolMetadata,
    __version__,
    new_mcp_client_from_type,
)
from . import _core
from ._clients import DynamicAuthClient, SSEClient, StdioClient, StreamableHTTPClient

if TYPE_CHECKING:
    from ._fleet import Adapter, MCPServer
    from ._protocol import MCPClient
    from ._handlers import ElicitationHandler, LogHandler, ProgressCallback, Root, RootsFunction, SamplingHandler

# Imported on first use: they pull in asyncio and typing, which a process that only runs the
# built-in server (``python -m mcpfleet.demo_server``) never needs.
_LAZY = {"Adapter": "._fleet", "MCPServer": "._fleet", "MCPClient": "._protocol"}
_LAZY.update(dict.fromkeys(("ElicitationHandler", "SamplingHandler", "LogHandler", "ProgressCallback", "Root", "RootsFunction"), "._handlers"))


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mcpfleet' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


#: Seconds a stdio server may take to start and answer ``initialize``.
DEFAULT_STDIO_INIT_TIMEOUT: float = 10.0
#: Key naming the OAuth client id where credentials come from a mapping or secret
#: (``OAuth(credentials=...)``, ``auth.credentialsFile`` in a definition).
DEFAULT_CLIENT_ID_KEY: str = "client-id"
#: Key naming the OAuth client secret where credentials come from a mapping or secret.
DEFAULT_CLIENT_SECRET_KEY: str = "client-secret"


# Stdio servers end with the interpreter, also when their clients were never closed.
atexit.register(_core._at_exit)

__all__ = [
    "Adapter",
    "MCPServer",
    "MCPServerInfo",
    "McpDiscreteStatusUpdate",
    "ServerNotFoundError",
    "ToolMetadata",
    "GatewayServer",
    "AudioContent",
    "AuthError",
    "AuthRequiredError",
    "DynamicAuthClient",
    "TokenProviderError",
    "OAuth",
    "OAuthError",
    "FileTokenStore",
    "BlobResourceContents",
    "CallToolResult",
    "ConfigError",
    "DEFAULT_CLIENT_ID_KEY",
    "DEFAULT_CLIENT_SECRET_KEY",
    "DEFAULT_STDIO_INIT_TIMEOUT",
    "ElicitationHandler",
    "ElicitationRequest",
    "EmbeddedResource",
    "GetPromptResult",
    "LogHandler",
    "LogMessage",
    "ProgressCallback",
    "Root",
    "RootsFunction",
    "SamplingHandler",
    "SamplingRequest",
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
    "ResourceTemplate",
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
