"""The exception hierarchy. Every exception mcpfleet raises derives from :class:`MCPFleetError`.

The classes live in Python (not in the extension) so that some can also derive from the
matching builtin: ``RequestTimeoutError`` is a ``TimeoutError``, ``ConfigError`` a
``ValueError``, ``TransportError`` a ``ConnectionError``, ``ToolNotFoundError`` a ``LookupError``.
Messages never contain header values, environment values or tokens.
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up time)

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "MCPFleetError",
    "ConfigError",
    "ServerStartError",
    "ServerExitedError",
    "RequestTimeoutError",
    "ProtocolError",
    "ServerError",
    "TransportError",
    "ToolNotFoundError",
    "ServerNotRunningError",
    "AuthError",
    "AuthRequiredError",
    "TokenProviderError",
    "OAuthError",
]


class MCPFleetError(Exception):
    """Base class of every mcpfleet error."""

    def __init__(self, message: str = "", details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        if details:
            for key, value in details.items():
                setattr(self, key, value)


class ConfigError(MCPFleetError, ValueError):
    """Invalid arguments or configuration: unknown transport type, bad URL, bad header, ...

    ``file``, ``line`` and ``column`` are set when the problem comes from a file.
    """

    file: str | None = None
    line: int | None = None
    column: int | None = None
    #: Every problem found, each a dict with ``file``, ``line``, ``column``, ``server``, ``field`` and ``message``
    #: (the first one also fills ``file``/``line``/``column`` above).
    problems: list[dict] = []


class ServerStartError(MCPFleetError):
    """The server could not be started or reached: missing command, connection refused, ..."""


class ServerExitedError(MCPFleetError):
    """The stdio server process exited while it was needed.

    ``exit_code`` is the exit status, or the negative signal number when a signal killed it;
    ``stderr_tail`` holds the last lines the server wrote to stderr.
    """

    exit_code: int | None = None
    stderr_tail: str = ""


class RequestTimeoutError(MCPFleetError, TimeoutError):
    """No answer in time. The request was cancelled on the server (``notifications/cancelled``).

    ``timeout`` is the limit in seconds.
    """

    timeout: float | None = None


class ProtocolError(MCPFleetError):
    """The server broke the MCP protocol (unexpected response, endless pagination, a
    cross-origin SSE endpoint, ...)."""


class ServerError(MCPFleetError):
    """The server answered a request with a JSON-RPC error (``code``, ``message``, ``data``).

    A tool that fails is not this: it returns a ``CallToolResult`` with ``is_error=True``.
    """

    code: int | None = None
    data: Any = None


class TransportError(MCPFleetError, ConnectionError):
    """The connection failed after it was established (HTTP error status, closed stream, ...)."""


class ToolNotFoundError(MCPFleetError, LookupError):
    """No tool with that name. ``close_matches`` lists similar names."""

    close_matches: list[str] = []


class ServerNotRunningError(MCPFleetError):
    """The client is not connected (not initialized yet, or closed), or the fleet server behind
    a tool is not up: ``server``, ``state`` and ``last_error`` say which and why."""

    server: str | None = None
    state: str | None = None
    last_error: str | None = None


class ServerNotFoundError(MCPFleetError, LookupError):
    """No fleet server with that name. ``close_matches`` lists similar names."""

    close_matches: list[str] = []


class AuthError(MCPFleetError):
    """Base class of the authorization errors."""


class TokenProviderError(AuthError):
    """The token provider raised, returned something other than a str or None, or gave no
    token within ``token_timeout``. The request was not sent. The provider's own exception is
    the ``__cause__``."""


class OAuthError(AuthError):
    """An OAuth flow failed: discovery, client registration, the token endpoint, a refresh the
    server refused, the token store, or the login (redirect, timeout). The message says which
    step; ``__cause__`` is the token store's or authorize callback's exception when one raised.
    Tokens, secrets and codes are never part of it."""


class AuthRequiredError(AuthError):
    """The remote server answered 401 (or 403) with a ``WWW-Authenticate`` challenge.

    ``url`` is the server, ``status`` the HTTP status; ``issuer``, ``scope`` and
    ``resource_metadata_url`` come from the challenge when it names them;
    ``www_authenticate`` is the raw header.
    """

    url: str | None = None
    status: int | None = None
    issuer: str | None = None
    scope: str | None = None
    resource_metadata_url: str | None = None
    error: str | None = None
    error_description: str | None = None
    www_authenticate: str = ""
    #: Every challenge of the header: ``[{"scheme": "Bearer", "params": {"scope": ...}}, ...]``
    #: (parameter names lower-cased).
    challenges: list[dict] = []

    def has_valid_challenge(self) -> bool:
        """Whether the challenge says where to find the authorization server."""
        return bool(self.resource_metadata_url or self.issuer)
