"""Type stubs for the compiled core (`mcpfleet._core`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterable
from os import PathLike
from typing import Any, Generic, Protocol, Self, TypeVar, Union, final

from typing_extensions import disjoint_base

import mcp.types

from ._handlers import ElicitationHandler, LogHandler, ProgressCallback, Root, RootsFunction, SamplingHandler

__version__: str

_T = TypeVar("_T")

class _HasAccessToken(Protocol):
    def get_access_token(self) -> str | None | Awaitable[str | None]: ...

#: Where a remote server's bearer token comes from: called (or its ``get_access_token()``) for
#: every HTTP request; a str is the token (no ``Bearer`` prefix), None sends none.
TokenProvider = Union[Callable[[], Union[str, None, Awaitable[Union[str, None]]]], _HasAccessToken]

class _TokenStore(Protocol):
    """A token store: each method may be sync or ``async``. The record is the dict
    `FileTokenStore` writes (``client_id``, ``token_response``, ``granted_scopes``,
    ``token_received_at``, ``issuer``, ``expires_at``, ``version``)."""

    def load(self) -> dict[str, Any] | None | Awaitable[dict[str, Any] | None]: ...
    def save(self, record: dict[str, Any], /) -> None | Awaitable[None]: ...
    def clear(self) -> None | Awaitable[None]: ...

@final
class FileTokenStore:
    """Tokens in one JSON file, written atomically (a temporary file renamed over the old one)
    with mode 0600. It keeps the refresh token and the absolute expiry (``expires_at``), so a
    restarted process refreshes instead of asking the user to log in again."""

    def __new__(cls, path: str | PathLike[str]) -> Self: ...
    @property
    def path(self) -> PathLike[str]: ...

@final
class OAuth:
    """How a remote server's client gets OAuth 2.1 tokens (the MCP authorization spec).

    On a 401, mcpfleet discovers the authorization server (protected-resource metadata from the
    challenge or the well-known paths, then RFC 8414 / OpenID metadata), identifies the client
    (``client_id`` if pre-registered, else ``client_metadata_url`` when the server supports
    client ID metadata documents, else dynamic registration), and gets a token: with
    ``grant="authorization_code"`` by PKCE (S256) with the ``resource`` parameter, the user
    authorizing in a browser; with ``"client_credentials"`` using ``client_secret`` (basic or
    post, as the server supports); with ``"private_key_jwt"`` (or ``client_credentials`` and a
    ``private_key``) by a signed JWT. Tokens are refreshed shortly before they expire and once
    after a 401; a 403 ``insufficient_scope`` asks the user for the wider scope (at most 3
    times). ``scopes``: a list or space-separated str; empty lets the server's challenge and
    metadata choose. ``credentials``: a mapping (such as a Kubernetes secret's data) holding
    the client ID and secret under ``client_id_key`` / ``client_secret_key``.

    The user's part: ``authorize(url)`` (sync or async) gets the authorization URL and returns
    the URL the browser was redirected to (headless; the redirect URI is ``redirect_uri`` or
    ``http://127.0.0.1/callback``). Without it, mcpfleet opens a browser (``open_browser``) and
    catches the redirect on a loopback port (``redirect_uri`` must then be
    ``http://127.0.0.1:PORT/...`` or left None for any free port); the URL is also logged.
    A direct client logs in when needed (during ``initialize()`` with ``login_timeout``; later
    inside the request that met the 401); a fleet server goes to ``AuthRequired`` until
    ``Adapter.login(name)``.

    ``store``: where tokens live: None (memory), a `FileTokenStore` or a path, or an object with
    ``load()``, ``save(record)`` and ``clear()``. Secrets and tokens never appear in ``repr()``,
    logs or errors."""

    def __new__(
        cls,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        scopes: str | list[str] | None = None,
        grant: str = "authorization_code",
        redirect_uri: str | None = None,
        client_metadata_url: str | None = None,
        client_name: str = "mcpfleet",
        private_key: str | bytes | PathLike[str] | None = None,
        signing_algorithm: str = "ES256",
        credentials: Any | None = None,
        client_id_key: str = "client-id",
        client_secret_key: str = "client-secret",
        store: FileTokenStore | str | PathLike[str] | _TokenStore | None = None,
        authorize: Callable[[str], str | Awaitable[str]] | None = None,
        open_browser: bool = True,
        login_timeout: float = 300.0,
    ) -> Self: ...
    @property
    def grant(self) -> str: ...
    @property
    def client_id(self) -> str | None: ...
    @property
    def scopes(self) -> list[str]: ...
    @property
    def redirect_uri(self) -> str | None: ...

@final
class PendingCall(Generic[_T]):
    """What every async client method returns: an operation already running in the core.
    Await it, or pass it to `asyncio.create_task`/`gather`/`wait_for` (it is registered as a
    `collections.abc.Coroutine`). Cancelling the awaiting task cancels the operation, and the
    server gets `notifications/cancelled`; dropped without being awaited, it is cancelled."""

    def __class_getitem__(cls, item: Any, /) -> Any: ...
    def __await__(self) -> Generator[Any, None, _T]: ...
    def __iter__(self) -> PendingCall[_T]: ...
    def __next__(self) -> Any: ...
    def send(self, value: object, /) -> Any: ...
    def throw(self, kind: Any, value: object = None, traceback: object = None, /) -> Any: ...
    def close(self) -> None: ...

@disjoint_base
class MCPClientBase:
    """The MCP client methods shared by every transport (use a subclass).

    What a server asks of its client is answered by the handlers given to the constructor,
    each a plain or ``async`` function run on the event loop the client is used from:
    ``elicitation_handler`` (an `ElicitationRequest`), ``sampling_handler`` (a
    `SamplingRequest`), ``roots`` (a list, or a function returning one) and ``log_handler``
    (each `LogMessage`; without one they go to the ``mcpfleet.server`` logger). The client
    declares exactly the capabilities it has handlers for; without an elicitation handler a
    server's question is declined."""

    async def initialize(self) -> ServerInfo: ...
    async def close(self) -> None: ...
    async def __aenter__(self) -> MCPClientBase: ...
    async def __aexit__(self, *exc_info: object) -> bool: ...
    async def list_tools(self, *, timeout: float | None = None, meta: dict[str, Any] | None = None) -> list[Tool]: ...
    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        meta: dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> CallToolResult:
        """``meta`` goes to the server as the request's ``_meta`` (trace context, your own keys).
        ``progress`` (sync or async) is called with (progress, total, message) for each of the
        server's progress notifications about this call."""
    async def subscribe(
        self, uri: str, on_update: Callable[[str], Any] | None = None, *, timeout: float | None = None, meta: dict[str, Any] | None = None
    ) -> None:
        """``resources/subscribe``; ``on_update(uri)`` (sync or async) is called for each
        ``notifications/resources/updated`` about ``uri``."""
    async def unsubscribe(self, uri: str, *, timeout: float | None = None, meta: dict[str, Any] | None = None) -> None: ...
    async def complete(
        self, ref: Any, argument: dict[str, str], *, context_arguments: dict[str, str] | None = None, timeout: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Values for an argument of a prompt (``{"type": "ref/prompt", "name": ...}``) or a
        resource template (``{"type": "ref/resource", "uri": ...}``; SDK models too);
        ``argument`` is ``{"name": ..., "value": <typed so far>}``. Returns ``{"values": [...],
        "total": ..., "hasMore": ...}``; no values from a server without completions."""
    async def start_task(
        self, name: str, arguments: dict[str, Any] | None = None, *, ttl: float | None = None, timeout: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Starts a tool as a task and returns it at once: ``{"taskId", "status",
        "statusMessage", "createdAt", "lastUpdatedAt", "ttl", "pollInterval"}`` (milliseconds).
        Protocol 2025-11-25 (sessions, stdio or streamable HTTP): ``tools/call`` with ``task``.
        2026-07-28 (the tasks extension): the server decides, and ``ProtocolError`` says if it
        ran the call at once; ``ttl`` is not sent. ``call_tool`` runs a tool that requires a
        task as one by itself."""
    async def get_task(self, task_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """The task's state (``tasks/get``)."""
    async def task_result(self, task_id: str, *, timeout: float | None = None) -> CallToolResult:
        """Waits for the task's result (``tasks/result``; on 2026-07-28 ``tasks/get`` until it
        ends); the server's questions meanwhile go to this client's handlers."""
    async def cancel_task(self, task_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Cancels the task (``tasks/cancel``); returns it as the server left it."""
    async def set_roots(self, roots: Iterable[Root]) -> None:
        """Replaces the roots given as ``roots=`` and tells the server (``roots/list_changed``)."""
    async def list_resources(self, *, timeout: float | None = None, meta: dict[str, Any] | None = None) -> list[Resource]: ...
    async def list_resource_templates(self, *, timeout: float | None = None, meta: dict[str, Any] | None = None) -> list[ResourceTemplate]: ...
    async def read_resource(
        self, uri: str, *, timeout: float | None = None, meta: dict[str, Any] | None = None, progress: ProgressCallback | None = None
    ) -> ReadResourceResult: ...
    async def list_prompts(self, *, timeout: float | None = None, meta: dict[str, Any] | None = None) -> list[Prompt]: ...
    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, *, timeout: float | None = None, meta: dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> GetPromptResult: ...
    async def ping(self, *, timeout: float | None = None, meta: dict[str, Any] | None = None) -> None: ...
    async def set_logging_level(self, level: str, *, timeout: float | None = None, meta: dict[str, Any] | None = None) -> None:
        """Asks the server to send log messages at ``level`` ("debug", "info", "notice",
        "warning", "error", "critical", "alert", "emergency") and above; they arrive on the
        ``mcpfleet.server`` logger. ``ConfigError`` for another level; a server that does not
        support it answers ``ServerError`` (method not found)."""
    @property
    def server_info(self) -> ServerInfo | None:
        """The server's `initialize` answer, or None before `initialize()`."""
    @property
    def protocol_version(self) -> str | None:
        """The protocol version agreed with the server, or None before `initialize()`."""
    @property
    def is_connected(self) -> bool:
        """True between a successful `initialize()` and `close()`."""
    @property
    def transport(self) -> str:
        """"stdio", "streamable-http" or "sse"."""
    @property
    def name(self) -> str:
        """The name used in log records and error messages."""

class StdioClient(MCPClientBase):
    """A server started as a child process (own process group; ended with its group by
    `close()`, garbage collection or interpreter exit). It inherits this process's environment
    plus `env`."""

    def __new__(
        cls,
        command: str,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | PathLike[str] | None = None,
        init_timeout: float = 10.0,
        timeout: float = 30.0,
        *,
        name: str | None = None,
        stderr_lines: int = 200,
        shutdown_grace: float = 2.0,
        elicitation_handler: ElicitationHandler | None = None,
        sampling_handler: SamplingHandler | None = None,
        roots: Iterable[Root] | RootsFunction | None = None,
        log_handler: LogHandler | None = None,
        protocol: str = "auto",
    ) -> Self:
        """The handlers answer what the server asks of the client (see `MCPClientBase`).
        ``protocol``: "auto" (a session by ``initialize`` where the server offers one, else
        2026-07-28 by ``server/discover``), "latest" (``server/discover`` first, as the official
        SDK's "auto") or the one version to speak ("2025-11-25", "2026-07-28", ...)."""
    async def __aenter__(self) -> StdioClient: ...
    def get_stderr(self) -> str:
        """The server's recent stderr (bounded; also after it exited or was closed)."""
    @property
    def pid(self) -> int | None:
        """The server process id while connected."""

class StreamableHTTPClient(MCPClientBase):
    """A remote server over streamable HTTP."""

    def __new__(
        cls,
        url: str,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        *,
        init_timeout: float | None = None,
        ca_bundle: str | PathLike[str] | None = None,
        client_cert: str | PathLike[str] | None = None,
        client_key: str | PathLike[str] | None = None,
        insecure: bool = False,
        name: str | None = None,
        token_provider: TokenProvider | None = None,
        token_timeout: float = 10.0,
        auth: OAuth | None = None,
        elicitation_handler: ElicitationHandler | None = None,
        sampling_handler: SamplingHandler | None = None,
        roots: Iterable[Root] | RootsFunction | None = None,
        log_handler: LogHandler | None = None,
        protocol: str = "auto",
    ) -> Self:
        """``token_provider``: a callable (sync or async) or an object with
        ``get_access_token()`` returning the bearer token (or None) for each request; it runs
        on the event loop the client is used from, within ``token_timeout`` seconds.
        ``auth``: let mcpfleet run OAuth itself (see `OAuth`); not together with
        ``token_provider``."""
    async def __aenter__(self) -> StreamableHTTPClient: ...

class SSEClient(MCPClientBase):
    """A remote server over the legacy HTTP+SSE transport."""

    def __new__(
        cls,
        url: str,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        *,
        init_timeout: float | None = None,
        ca_bundle: str | PathLike[str] | None = None,
        client_cert: str | PathLike[str] | None = None,
        client_key: str | PathLike[str] | None = None,
        insecure: bool = False,
        name: str | None = None,
        token_provider: TokenProvider | None = None,
        token_timeout: float = 10.0,
        auth: OAuth | None = None,
        elicitation_handler: ElicitationHandler | None = None,
        sampling_handler: SamplingHandler | None = None,
        roots: Iterable[Root] | RootsFunction | None = None,
        log_handler: LogHandler | None = None,
        protocol: str = "auto",
    ) -> Self: ...
    async def __aenter__(self) -> SSEClient: ...

@final
class MCPClientConfig:
    """Settings for `new_mcp_client_from_type`."""

    command: str | None
    args: list[str]
    env: dict[str, str]
    cwd: str | PathLike[str] | None
    url: str | None
    headers: dict[str, str]
    timeout: float
    init_timeout: float | None
    ca_bundle: str | PathLike[str] | None
    client_cert: str | PathLike[str] | None
    client_key: str | PathLike[str] | None
    insecure: bool
    name: str | None
    elicitation_handler: ElicitationHandler | None
    sampling_handler: SamplingHandler | None
    roots: Iterable[Root] | RootsFunction | None
    log_handler: LogHandler | None
    protocol: str
    def __new__(
        cls,
        command: str | None = None,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | PathLike[str] | None = None,
        url: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        init_timeout: float | None = None,
        *,
        ca_bundle: str | PathLike[str] | None = None,
        client_cert: str | PathLike[str] | None = None,
        client_key: str | PathLike[str] | None = None,
        insecure: bool = False,
        name: str | None = None,
        elicitation_handler: ElicitationHandler | None = None,
        sampling_handler: SamplingHandler | None = None,
        roots: Iterable[Root] | RootsFunction | None = None,
        log_handler: LogHandler | None = None,
        protocol: str = "auto",
    ) -> Self: ...

def new_mcp_client_from_type(type: str, config: MCPClientConfig) -> StdioClient | StreamableHTTPClient | SSEClient:
    """The client for "stdio", "streamable-http" or "sse"; other types raise ConfigError."""

@final
class ElicitationRequest:
    """A server's question (``elicitation/create``), as an elicitation handler gets it."""

    @property
    def server(self) -> str:
        """The name of the server asking (the client's ``name``, or the fleet server's)."""
    @property
    def mode(self) -> str:
        """"form" (answer with content matching ``requested_schema``) or "url" (send the user
        to ``url``; answer "accept" once they went)."""
    @property
    def message(self) -> str: ...
    @property
    def requested_schema(self) -> dict[str, Any] | None: ...
    @property
    def url(self) -> str | None: ...
    @property
    def elicitation_id(self) -> str | None: ...
    @property
    def meta(self) -> dict[str, Any] | None: ...
    def defaults(self) -> dict[str, Any]:
        """The schema's default for each field that has one (SEP-1034); an accepted answer
        that leaves a field out gets its default."""

@final
class SamplingRequest:
    """A server's request for a completion (``sampling/createMessage``)."""

    @property
    def server(self) -> str: ...
    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation: MCP SamplingMessage dicts (``role``, ``content``)."""
    @property
    def prompt(self) -> str | None:
        """The text of the last message."""
    @property
    def system_prompt(self) -> str | None: ...
    @property
    def max_tokens(self) -> int: ...
    @property
    def temperature(self) -> float | None: ...
    @property
    def stop_sequences(self) -> list[str] | None: ...
    @property
    def model_preferences(self) -> dict[str, Any] | None: ...
    @property
    def include_context(self) -> str | None: ...
    @property
    def metadata(self) -> Any: ...
    @property
    def tools(self) -> list[dict[str, Any]] | None: ...

@final
class LogMessage:
    """A server's log message (``notifications/message``)."""

    @property
    def server(self) -> str: ...
    @property
    def level(self) -> str:
        """"debug", "info", "notice", "warning", "error", "critical", "alert" or "emergency"."""
    @property
    def logger(self) -> str | None: ...
    @property
    def data(self) -> Any:
        """What the server logged: usually a string, any JSON value."""

@final
class ServerInfo:
    """What the server said about itself in the `initialize` handshake."""

    def to_dict(self) -> dict[str, Any]:
        """The value as the MCP specification spells it: a dict with camelCase keys."""
    def to_mcp(self) -> mcp.types.InitializeResult:
        """The same value as the official `mcp` SDK's model (needs `pip install mcp`)."""

    @property
    def name(self) -> str | None: ...
    @property
    def version(self) -> str | None: ...
    @property
    def title(self) -> str | None: ...
    @property
    def protocol_version(self) -> str: ...
    @property
    def instructions(self) -> str | None: ...
    @property
    def capabilities(self) -> dict[str, Any]: ...

@final
class Tool:
    """A tool offered by a server."""

    def to_dict(self) -> dict[str, Any]:
        """The value as the MCP specification spells it: a dict with camelCase keys."""
    def to_mcp(self) -> mcp.types.Tool:
        """The same value as the official `mcp` SDK's model (needs `pip install mcp`)."""

    @property
    def name(self) -> str: ...
    @property
    def title(self) -> str | None: ...
    @property
    def description(self) -> str | None: ...
    @property
    def input_schema(self) -> dict[str, Any]: ...
    @property
    def output_schema(self) -> dict[str, Any] | None: ...
    @property
    def annotations(self) -> dict[str, Any] | None: ...
    @property
    def meta(self) -> dict[str, Any] | None: ...
    @property
    def icons(self) -> list[dict[str, Any]] | None:
        """Icons for the tool (each a dict: ``src``, ``mimeType``, ``sizes``, ``theme``)."""
    @property
    def execution(self) -> dict[str, Any] | None:
        """What the tool says about tasks (protocol 2025-11-25, stdio and streamable-HTTP
        sessions), e.g. ``{"taskSupport": "required"}``."""

Content = TextContent | ImageContent | AudioContent | EmbeddedResource | ResourceLink

@final
class CallToolResult:
    """The outcome of a tool call; a failed tool has `is_error=True`."""

    def to_dict(self) -> dict[str, Any]:
        """The value as the MCP specification spells it: a dict with camelCase keys."""
    def to_mcp(self) -> mcp.types.CallToolResult:
        """The same value as the official `mcp` SDK's model (needs `pip install mcp`)."""

    @property
    def content(self) -> list[Content]: ...
    @property
    def structured_content(self) -> Any: ...
    @property
    def is_error(self) -> bool: ...
    @property
    def text(self) -> str:
        """The text blocks joined by newlines."""
    @property
    def meta(self) -> dict[str, Any] | None: ...

@final
class TextContent:
    type: str  # "text"
    text: str
    annotations: dict[str, Any] | None
    meta: dict[str, Any] | None

@final
class ImageContent:
    type: str  # "image"
    data: str
    mime_type: str
    annotations: dict[str, Any] | None

@final
class AudioContent:
    type: str  # "audio"
    data: str
    mime_type: str
    annotations: dict[str, Any] | None

@final
class EmbeddedResource:
    type: str  # "resource"
    resource: TextResourceContents | BlobResourceContents
    annotations: dict[str, Any] | None

@final
class ResourceLink:
    type: str  # "resource_link"
    uri: str
    name: str
    description: str | None
    mime_type: str | None

@final
class ResourceTemplate:
    """A family of resources a server can read, named by an RFC 6570 URI template."""

    def to_dict(self) -> dict[str, Any]:
        """The value as the MCP specification spells it: a dict with camelCase keys."""
    def to_mcp(self) -> mcp.types.ResourceTemplate:
        """The same value as the official `mcp` SDK's model (needs `pip install mcp`)."""
    @property
    def uri_template(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def title(self) -> str | None: ...
    @property
    def description(self) -> str | None: ...
    @property
    def mime_type(self) -> str | None: ...

@final
class Resource:
    """A resource a server lists."""

    def to_dict(self) -> dict[str, Any]:
        """The value as the MCP specification spells it: a dict with camelCase keys."""
    def to_mcp(self) -> mcp.types.Resource:
        """The same value as the official `mcp` SDK's model (needs `pip install mcp`)."""

    uri: str
    name: str
    title: str | None
    description: str | None
    mime_type: str | None
    size: int | None

@final
class TextResourceContents:
    uri: str
    mime_type: str | None
    text: str

@final
class BlobResourceContents:
    uri: str
    mime_type: str | None
    blob: str

@final
class ReadResourceResult:

    def to_dict(self) -> dict[str, Any]:
        """The value as the MCP specification spells it: a dict with camelCase keys."""
    def to_mcp(self) -> mcp.types.ReadResourceResult:
        """The same value as the official `mcp` SDK's model (needs `pip install mcp`)."""
    @property
    def contents(self) -> list[TextResourceContents | BlobResourceContents]: ...
    @property
    def text(self) -> str:
        """The text contents joined by newlines."""

@final
class PromptArgument:
    name: str
    title: str | None
    description: str | None
    required: bool

@final
class Prompt:

    def to_dict(self) -> dict[str, Any]:
        """The value as the MCP specification spells it: a dict with camelCase keys."""
    def to_mcp(self) -> mcp.types.Prompt:
        """The same value as the official `mcp` SDK's model (needs `pip install mcp`)."""
    name: str
    title: str | None
    description: str | None
    arguments: list[PromptArgument]

@final
class PromptMessage:
    role: str
    content: Content

@final
class GetPromptResult:

    def to_dict(self) -> dict[str, Any]:
        """The value as the MCP specification spells it: a dict with camelCase keys."""
    def to_mcp(self) -> mcp.types.GetPromptResult:
        """The same value as the official `mcp` SDK's model (needs `pip install mcp`)."""
    description: str | None
    messages: list[PromptMessage]

def run_demo_server(http_port: int | None = None) -> None:
    """Serves the built-in demo server: stdio, or streamable HTTP on 127.0.0.1:`http_port`."""

def _terminate_all_servers(grace: float = 2.0) -> None:
    """Ends every stdio server group (TERM, KILL after ``grace`` seconds, 0..86400; else
    ``ConfigError``)."""
def _at_exit() -> None:
    """Interpreter exit: from now on nothing is started or restarted; every server group ends."""
def _live_server_process_groups() -> int: ...
def _waker_kind() -> str:
    """How loops are woken in this process: "eventfd" or "pipe"."""
def _register_loop() -> None:
    """Makes the running loop ready to take jobs (its reader is added on its own thread)."""
def _call_blocking(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` with this thread's calls made blocking; a `PendingCall` it
    returns is waited for (Ctrl-C cancels it), anything else is returned as it is."""
def _set_log_level(level: int) -> None: ...
def _redact(text: str) -> str:
    """``text`` with URL credentials and query values, and known header, env and token values, as ``***``."""
def _check_config(config: str | PathLike[str] | list[str | PathLike[str]]) -> tuple[list[str], list[dict[str, Any]]]:
    """(server names, problems) of configuration files, read without starting anything."""
def _serve_fleet(
    config: str | PathLike[str] | list[str | PathLike[str]],
    *,
    http: tuple[str, int] | None = None,
    path: str = "/mcp",
    auth_token: str | None = None,
    allow_unauthenticated: bool = False,
    management_tools: bool = False,
    tool_search: bool = False,
    watch: bool = False,
    read_fd: int = 0,
    write_fd: int = 1,
    kubernetes: dict[str, Any] | None = None,
    drain: float = 15.0,
) -> str:
    """`mcpfleet serve`: serves a configuration (or a cluster's resources, with ``kubernetes``)
    until SIGINT/SIGTERM/SIGHUP or the end of input, lets calls in flight finish (``drain``
    seconds at most), then stops every server; blocks without the GIL. Returns "signal" or
    "input-closed"."""
def _watchdog_pid() -> int | None:
    """The pid of the watchdog that ends the servers if this process is killed (None before the first stdio server)."""

# --- the fleet -------------------------------------------------------------------------------

@final
class McpDiscreteStatusUpdate:
    """One state change of one fleet server."""

    @property
    def name(self) -> str: ...
    @property
    def process_status(self) -> str:
        """"ProcessInitializing", "ProcessStarting", "ProcessRunning", "ProcessExitedWithError" or "ProcessStopped"."""
    @property
    def state(self) -> str:
        """"Stopped", "Starting", "Running", "Connecting", "Connected", "Disconnected", "AuthRequired",
        "Failed", "Restarting" or "CrashLoop"."""
    @property
    def error(self) -> str | None: ...

@final
class StatusStream:
    """An async iterator of status updates; it ends when the Adapter is closed."""

    def __aiter__(self) -> StatusStream: ...
    def __anext__(self) -> PendingCall[McpDiscreteStatusUpdate]: ...

@final
class MCPServerInfo:
    """A fleet server: its definition (secrets redacted) and how it is doing."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def tool_prefix(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def auto_start(self) -> bool: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def tool_count(self) -> int: ...
    @property
    def restart_count(self) -> int: ...
    @property
    def uptime(self) -> float | None:
        """Seconds since the server came up, or None when it is not up."""
    @property
    def pid(self) -> int | None: ...
    @property
    def instructions(self) -> str | None:
        """What the server said about how to use it when it connected."""
    @property
    def server_info(self) -> ServerInfo | None:
        """While the server is up, what it said of itself in ``initialize`` (name, version,
        ``protocol_version``, ``capabilities``, ``instructions``); None when it is not up."""
    @property
    def protocol_version(self) -> str | None:
        """The protocol version negotiated with the server while it is up."""
    @property
    def definition(self) -> dict[str, Any]:
        """The definition in the flat shape; env and header values are redacted."""
    @property
    def auth_info(self) -> dict[str, Any] | None:
        """For a server in AuthRequired: url, issuer, scope, resource_metadata_url, www_authenticate."""

@final
class ToolMetadata:
    """An aggregated tool."""

    def to_dict(self) -> dict[str, Any]:
        """The value (under its public name) as the MCP specification spells it: a dict with camelCase keys."""
    def to_mcp(self) -> mcp.types.Tool:
        """The same value as the official `mcp` SDK's model (needs `pip install mcp`)."""

    @property
    def name(self) -> str:
        """The public name (`{prefix}_{tool}`), what `execute_tool` takes."""
    @property
    def original_name(self) -> str: ...
    @property
    def server(self) -> str | None:
        """The server offering it (None for the management tools)."""
    @property
    def description(self) -> str | None: ...
    @property
    def input_schema(self) -> dict[str, Any]: ...
    @property
    def output_schema(self) -> dict[str, Any] | None: ...
    @property
    def annotations(self) -> dict[str, Any] | None: ...
    @property
    def title(self) -> str | None: ...
    @property
    def icons(self) -> list[dict[str, Any]] | None:
        """Icons for the tool (each a dict: ``src``, ``mimeType``, ``sizes``, ``theme``)."""
    @property
    def meta(self) -> dict[str, Any] | None:
        """The tool's ``_meta`` as the server gave it."""
    @property
    def execution(self) -> dict[str, Any] | None:
        """What the tool says about tasks (protocol 2025-11-25), e.g. ``{"taskSupport":
        "required"}``; ``execute_tool`` runs a tool that requires a task as one."""

@final
class GatewayServer:
    """A fleet served over streamable HTTP: clients connect to ``url``; ``await close()`` (or
    ``async with``) stops serving. The fleet itself goes on."""

    @property
    def url(self) -> str: ...
    async def close(self) -> None: ...
    async def __aenter__(self) -> GatewayServer: ...
    async def __aexit__(self, *exc_info: object) -> bool: ...

@disjoint_base
class Adapter:
    """A fleet of MCP servers: one registry, supervised lifecycles, all tools under prefixes."""

    def __new__(
        cls,
        servers: Any = None,
        *,
        management_tools: bool = False,
        config: str | PathLike[str] | list[str | PathLike[str]] | None = None,
        token_providers: dict[str, TokenProvider] | None = None,
        elicitation_handler: ElicitationHandler | None = None,
        sampling_handler: SamplingHandler | None = None,
        roots: Iterable[Root] | RootsFunction | None = None,
        log_handler: LogHandler | None = None,
        kubernetes: dict[str, Any] | None = None,
    ) -> Self:
        """``servers``: dicts or ``MCPServer``s (a remote one may carry a ``token_provider``);
        ``kubernetes``: the options of `Adapter.from_kubernetes`, which is the way to use it;
        ``token_providers``: token providers by server name (for servers from ``config``).
        The handlers answer every server's requests (each gets the server's name); see
        `set_handlers` for one server's own."""
    async def _start_source(self) -> None:
        """Lists a cluster's resources and starts watching them (``from_kubernetes``)."""
    async def __aenter__(self) -> Adapter: ...
    async def __aexit__(self, *exc_info: object) -> bool: ...
    async def start_auto(self) -> dict[str, str | None]:
        """Starts every autoStart server concurrently; {name: error message or None}."""
    async def close(self) -> None: ...
    async def serve_http(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/mcp",
        auth_token: str | None = None,
        *,
        management_tools: bool | None = None,
        allow_unauthenticated: bool = False,
        name: str = "mcpfleet",
        tool_search: bool = False,
    ) -> GatewayServer:
        """Serves the fleet as one MCP server over streamable HTTP (returns once listening).
        A non-loopback ``host`` needs ``auth_token`` unless ``allow_unauthenticated=True``;
        ``management_tools`` defaults to the Adapter's setting; ``tool_search`` publishes
        ``search_tools`` and ``call_tool`` instead of every tool."""
    async def serve_stdio(
        self,
        *,
        management_tools: bool | None = None,
        name: str = "mcpfleet",
        read_fd: int = 0,
        write_fd: int = 1,
        tool_search: bool = False,
    ) -> None:
        """Serves the fleet as one MCP server on ``read_fd``/``write_fd`` (this process's stdin and
        stdout) until the input closes. Nothing else may write to ``write_fd`` meanwhile."""
    async def reload(self, config: str | PathLike[str] | list[str | PathLike[str]]) -> dict[str, list[str]]:
        """Reads configuration files again and makes the fleet hold exactly what they define:
        new servers added (autoStart ones started), missing ones deleted, changed ones updated
        (restarted only when something that matters changed). A configuration with any problem
        raises ``ConfigError`` and changes nothing. Returns ``{"added", "updated", "removed"}``."""
    async def create(self, spec: Any) -> MCPServerInfo | list[MCPServerInfo]:
        """Registers a server (or several, from a multi-document spec) and starts the
        `autoStart` ones, also on an Adapter never entered (a notebook, cell by cell)."""
    async def update(self, name: str, spec: Any) -> MCPServerInfo:
        """Replaces a definition: a running server restarts when something that matters
        changed; a stopped one starts when it became `autoStart`."""
    async def delete(self, name: str) -> None: ...
    def validate(self, spec: Any) -> list[str]:
        """Every problem of a definition (empty when valid); registers nothing."""
    def list_mcp_servers(self) -> list[MCPServerInfo]: ...
    def get_mcp_server(self, name: str) -> MCPServerInfo: ...
    async def start(self, name: str) -> MCPServerInfo:
        """Starts a server and waits until it is up (or raises the error of its attempt)."""
    async def stop(self, name: str) -> None: ...
    async def restart(self, name: str) -> MCPServerInfo: ...
    async def login(
        self,
        name: str,
        *,
        authorize: Callable[[str], str | Awaitable[str]] | None = None,
        open_browser: bool = True,
        timeout: float = 300.0,
    ) -> MCPServerInfo:
        """Gets OAuth tokens for a server with ``auth: {type: oauth, ...}`` and starts it again
        if it is not up (one waiting in ``AuthRequired``). ``authorize(url)`` returns the
        redirect URL (headless); without it a browser opens and a loopback port catches the
        redirect. Client-credentials servers need neither."""
    async def logout(self, name: str) -> None:
        """Forgets a server's OAuth tokens, in memory and in its token store."""
    def get_tools(self) -> list[ToolMetadata]: ...
    async def start_task(
        self, name: str, arguments: dict[str, Any] | None = None, *, ttl: float | None = None, timeout: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Starts a tool (public name) as a task on its server (see
        `MCPClientBase.start_task`); returns the task, with the server's name under ``"server"``. ``execute_tool`` runs a tool that
        requires a task as one by itself."""
    async def get_task(self, server: str, task_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """A task's state (``tasks/get``) at ``server``."""
    async def task_result(self, server: str, task_id: str, *, timeout: float | None = None) -> CallToolResult:
        """Waits for a task's result (``tasks/result``) at ``server``."""
    async def cancel_task(self, server: str, task_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Cancels a task (``tasks/cancel``) at ``server``."""
    async def execute_tool(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        meta: dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> CallToolResult:
        """``meta`` goes to the server as the request's ``_meta`` (trace context, your own keys);
        ``progress`` gets the server's progress notifications about this call."""
    def set_handlers(
        self,
        server: str,
        *,
        elicitation_handler: ElicitationHandler | None = None,
        sampling_handler: SamplingHandler | None = None,
        roots: Iterable[Root] | RootsFunction | None = None,
        log_handler: LogHandler | None = None,
    ) -> None:
        """Gives one server its own handlers over the fleet's (those not given stay the
        fleet's). They apply from its next start; ``restart()`` a running server."""
    def list_prompts(self) -> list[Prompt]: ...
    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, *, timeout: float | None = None, meta: dict[str, Any] | None = None
    ) -> GetPromptResult: ...
    def list_resources(self) -> list[tuple[str, Resource]]: ...
    def list_resource_templates(self) -> list[tuple[str, ResourceTemplate]]:
        """``(server, template)`` for every resource template of every running server; a
        ``read_resource`` of a URI it matches goes to that server."""
    async def read_resource(
        self, uri: str, *, server: str | None = None, timeout: float | None = None, meta: dict[str, Any] | None = None
    ) -> ReadResourceResult: ...
    def tool_name_collisions(self) -> list[tuple[str, str, str, str]]:
        """(wanted name, server that kept it, server renamed, name it got instead)."""
    def status_updates(self) -> StatusStream: ...
