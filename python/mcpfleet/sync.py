"""Blocking clients and fleet, for plain scripts and threads.

    from mcpfleet.sync import Adapter, StdioClient

    with StdioClient("python", ["-m", "mcpfleet.demo_server"]) as client:
        print(client.call_tool("echo", {"text": "hi"}).text)

The same classes as the async API, with the same arguments and results; each method returns
when the operation is done. No event loop is created: the call runs on mcpfleet's Rust runtime
and the calling thread waits without holding the GIL, so many threads can call at once. Every
call is bounded by its timeout; Ctrl-C cancels the request in flight (the server is told) and
raises ``KeyboardInterrupt``. Python token providers and stores run on a thread of their own.

Called inside a running event loop (a notebook cell), a blocking call works (it does not need
that loop), but blocks the loop while it runs: in async code, prefer the async API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from os import PathLike
from typing import Any

from . import _clients, _core, _display, _fleet, _home
from ._handlers import ElicitationHandler, LogHandler, ProgressCallback, Root, RootsFunction, SamplingHandler

__all__ = ["Adapter", "GatewayServer", "StdioClient", "StreamableHTTPClient", "SSEClient", "DynamicAuthClient"]

_call = _core._call_blocking


class _Client:
    """The blocking surface every client shares."""

    _async_class: type = _core.MCPClientBase
    __slots__ = ("_async",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._async = self._async_class(*args, **kwargs)

    def initialize(self) -> _core.ServerInfo:
        return _call(self._async.initialize)

    def set_logging_level(self, level: str, *, timeout: float | None = None, meta: dict[str, Any] | None = None) -> None:
        _call(self._async.set_logging_level, level, timeout=timeout, meta=meta)

    def close(self) -> None:
        _call(self._async.close)

    def __enter__(self):
        _call(self._async.__aenter__)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def list_tools(self, *, timeout: float | None = None, meta: dict[str, Any] | None = None) -> list[_core.Tool]:
        return _call(self._async.list_tools, timeout=timeout, meta=meta)

    def call_tool(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        meta: dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> _core.CallToolResult:
        return _call(self._async.call_tool, name, arguments, timeout=timeout, meta=meta, progress=progress)

    def set_roots(self, roots: Iterable[Root]) -> None:
        _call(self._async.set_roots, roots)

    def subscribe(
        self, uri: str, on_update: Callable[[str], Any] | None = None, *, timeout: float | None = None, meta: dict[str, Any] | None = None
    ) -> None:
        _call(self._async.subscribe, uri, on_update, timeout=timeout, meta=meta)

    def unsubscribe(self, uri: str, *, timeout: float | None = None, meta: dict[str, Any] | None = None) -> None:
        _call(self._async.unsubscribe, uri, timeout=timeout, meta=meta)

    def complete(
        self, ref: Any, argument: dict[str, str], *, context_arguments: dict[str, str] | None = None, timeout: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return _call(self._async.complete, ref, argument, context_arguments=context_arguments, timeout=timeout, meta=meta)

    def start_task(
        self, name: str, arguments: dict[str, Any] | None = None, *, ttl: float | None = None, timeout: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return _call(self._async.start_task, name, arguments, ttl=ttl, timeout=timeout, meta=meta)

    def get_task(self, task_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return _call(self._async.get_task, task_id, timeout=timeout)

    def task_result(self, task_id: str, *, timeout: float | None = None) -> _core.CallToolResult:
        return _call(self._async.task_result, task_id, timeout=timeout)

    def cancel_task(self, task_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return _call(self._async.cancel_task, task_id, timeout=timeout)

    def list_resources(self, *, timeout: float | None = None, meta: dict[str, Any] | None = None) -> list[_core.Resource]:
        return _call(self._async.list_resources, timeout=timeout, meta=meta)

    def list_resource_templates(self, *, timeout: float | None = None, meta: dict[str, Any] | None = None) -> list[_core.ResourceTemplate]:
        return _call(self._async.list_resource_templates, timeout=timeout, meta=meta)

    def read_resource(
        self, uri: str, *, timeout: float | None = None, meta: dict[str, Any] | None = None, progress: ProgressCallback | None = None
    ) -> _core.ReadResourceResult:
        return _call(self._async.read_resource, uri, timeout=timeout, meta=meta, progress=progress)

    def list_prompts(self, *, timeout: float | None = None, meta: dict[str, Any] | None = None) -> list[_core.Prompt]:
        return _call(self._async.list_prompts, timeout=timeout, meta=meta)

    def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, *, timeout: float | None = None, meta: dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> _core.GetPromptResult:
        return _call(self._async.get_prompt, name, arguments, timeout=timeout, meta=meta, progress=progress)

    def ping(self, *, timeout: float | None = None, meta: dict[str, Any] | None = None) -> None:
        _call(self._async.ping, timeout=timeout, meta=meta)

    @property
    def server_info(self) -> _core.ServerInfo | None:
        return self._async.server_info

    @property
    def protocol_version(self) -> str | None:
        return self._async.protocol_version

    @property
    def is_connected(self) -> bool:
        return self._async.is_connected

    @property
    def transport(self) -> str:
        return self._async.transport

    @property
    def name(self) -> str:
        return self._async.name

    def __repr__(self) -> str:
        return f"sync.{self._async!r}"


class StdioClient(_Client):
    __doc__ = _core.StdioClient.__doc__
    _async_class = _clients.StdioClient
    __slots__ = ()

    def get_stderr(self) -> str:
        return self._async.get_stderr()

    @property
    def pid(self) -> int | None:
        return self._async.pid


class StreamableHTTPClient(_Client):
    __doc__ = _core.StreamableHTTPClient.__doc__
    _async_class = _clients.StreamableHTTPClient
    __slots__ = ()


class SSEClient(_Client):
    __doc__ = _core.SSEClient.__doc__
    _async_class = _clients.SSEClient
    __slots__ = ()


class DynamicAuthClient(_Client):
    __doc__ = _clients.DynamicAuthClient.__doc__
    _async_class = _clients.DynamicAuthClient
    __slots__ = ()


class GatewayServer:
    """A fleet served over streamable HTTP (``Adapter.serve_http``): clients connect to ``url``;
    ``close()`` (or the end of a ``with`` block) stops serving. The fleet itself goes on."""

    __slots__ = ("_async",)

    def __init__(self, served: _core.GatewayServer) -> None:
        self._async = served

    @property
    def url(self) -> str:
        return self._async.url

    def close(self) -> None:
        _call(self._async.close)

    def __enter__(self) -> GatewayServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"sync.{self._async!r}"


class _StatusUpdates:
    """Status updates as they happen, each ``next()`` waiting for one; ends when the Adapter
    is closed."""

    __slots__ = ("_stream",)

    def __init__(self, stream: _core.StatusStream) -> None:
        self._stream = stream

    def __iter__(self) -> _StatusUpdates:
        return self

    def __next__(self) -> _core.McpDiscreteStatusUpdate:
        try:
            return _call(self._stream.__anext__)
        except StopAsyncIteration:
            raise StopIteration from None


class Adapter:
    """A fleet of MCP servers with blocking methods (see ``mcpfleet.Adapter``). ``with`` starts
    the ``autoStart`` servers and stops every server at the end."""

    __slots__ = ("_async", "_status_callbacks", "_status_dispatch")

    def __init__(
        self,
        servers: Any = None,
        *,
        management_tools: bool = False,
        config: str | PathLike[str] | list[str | PathLike[str]] | None = None,
        token_providers: dict[str, Any] | None = None,
        elicitation_handler: ElicitationHandler | None = None,
        sampling_handler: SamplingHandler | None = None,
        roots: Iterable[Root] | RootsFunction | None = None,
        log_handler: LogHandler | None = None,
    ) -> None:
        self._async = _fleet.Adapter(
            servers,
            management_tools=management_tools,
            config=config,
            token_providers=token_providers,
            elicitation_handler=elicitation_handler,
            sampling_handler=sampling_handler,
            roots=roots,
            log_handler=log_handler,
        )
        self._status_callbacks: list[Callable[[_core.McpDiscreteStatusUpdate], Any]] = []
        self._status_dispatch: Future[None] | None = None

    @classmethod
    def from_config(cls, path: str | PathLike[str] | list[str | PathLike[str]], **options: Any) -> Adapter:
        """As ``mcpfleet.Adapter.from_config`` (``management_tools=``, ``token_providers=``, handlers)."""
        return cls(config=path, **options)

    def __enter__(self) -> Adapter:
        self.start_auto()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start_auto(self) -> dict[str, str | None]:
        # The core's own method: the async Adapter's adds a notebook display around it.
        return _call(_core.Adapter.start_auto, self._async)

    def close(self) -> None:
        _call(self._async.close)

    def create(self, spec: Any) -> _core.MCPServerInfo | list[_core.MCPServerInfo]:
        return _call(self._async.create, spec)

    def update(self, name: str, spec: Any) -> _core.MCPServerInfo:
        return _call(self._async.update, name, spec)

    def delete(self, name: str) -> None:
        _call(self._async.delete, name)

    def reload(self, config: str | PathLike[str] | list[str | PathLike[str]]) -> dict[str, list[str]]:
        return _call(self._async.reload, config)

    def start(self, name: str) -> _core.MCPServerInfo:
        return _call(self._async.start, name)

    def stop(self, name: str) -> None:
        _call(self._async.stop, name)

    def restart(self, name: str) -> _core.MCPServerInfo:
        return _call(self._async.restart, name)

    def execute_tool(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        meta: dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> _core.CallToolResult:
        return _call(self._async.execute_tool, name, arguments, timeout=timeout, meta=meta, progress=progress)

    def set_handlers(
        self,
        server: str,
        *,
        elicitation_handler: ElicitationHandler | None = None,
        sampling_handler: SamplingHandler | None = None,
        roots: Iterable[Root] | RootsFunction | None = None,
        log_handler: LogHandler | None = None,
    ) -> None:
        self._async.set_handlers(
            server, elicitation_handler=elicitation_handler, sampling_handler=sampling_handler, roots=roots, log_handler=log_handler
        )

    def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, *, timeout: float | None = None, meta: dict[str, Any] | None = None
    ) -> _core.GetPromptResult:
        return _call(self._async.get_prompt, name, arguments, timeout=timeout, meta=meta)

    def read_resource(
        self, uri: str, *, server: str | None = None, timeout: float | None = None, meta: dict[str, Any] | None = None
    ) -> _core.ReadResourceResult:
        return _call(self._async.read_resource, uri, server=server, timeout=timeout, meta=meta)

    def serve_http(
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
        """Serves the fleet as one MCP server over streamable HTTP; returns once it listens
        (see ``mcpfleet.Adapter.serve_http``)."""
        served = _call(
            self._async.serve_http,
            host,
            port,
            path,
            auth_token,
            management_tools=management_tools,
            allow_unauthenticated=allow_unauthenticated,
            name=name,
            tool_search=tool_search,
        )
        return GatewayServer(served)

    def serve_stdio(
        self, *, management_tools: bool | None = None, name: str = "mcpfleet", read_fd: int = 0, write_fd: int = 1, tool_search: bool = False
    ) -> None:
        """Serves the fleet as one MCP server on this process's stdin and stdout; returns when
        stdin closes (see ``mcpfleet.Adapter.serve_stdio``)."""
        _call(self._async.serve_stdio, management_tools=management_tools, name=name, read_fd=read_fd, write_fd=write_fd, tool_search=tool_search)

    def status_updates(self) -> Iterator[_core.McpDiscreteStatusUpdate]:
        """Every status change from now on (``for update in fleet.status_updates()``); the
        iteration ends when the Adapter is closed. Ctrl-C interrupts the wait."""
        return _StatusUpdates(self._async.status_updates())

    def on_status(self, callback: Callable[[_core.McpDiscreteStatusUpdate], Any]) -> None:
        """Calls ``callback(update)`` (sync or async) for every status change, on mcpfleet's
        callback thread (``mcpfleet-callbacks``), not the thread that registered it."""
        if not callable(callback):
            raise TypeError(f"on_status() needs a callable, got {type(callback).__name__}")
        self._status_callbacks.append(callback)
        if self._status_dispatch is None or self._status_dispatch.done():
            dispatch = _fleet._dispatch(self._async.status_updates(), self._status_callbacks)
            self._status_dispatch = asyncio.run_coroutine_threadsafe(dispatch, _home.home_loop())

    def login(self, name: str, **kwargs: Any) -> Any:
        return _call(self._async.login, name, **kwargs)

    def logout(self, name: str) -> None:
        _call(self._async.logout, name)

    # What needs no waiting is the async Adapter's own.
    def validate(self, spec: Any) -> list[str]:
        return self._async.validate(spec)

    def list_mcp_servers(self) -> _display.ServerList:
        return self._async.list_mcp_servers()

    def get_mcp_server(self, name: str) -> _core.MCPServerInfo:
        return self._async.get_mcp_server(name)

    def get_tools(self) -> _display.ToolList:
        return self._async.get_tools()

    def start_task(
        self, name: str, arguments: dict[str, Any] | None = None, *, ttl: float | None = None, timeout: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return _call(self._async.start_task, name, arguments, ttl=ttl, timeout=timeout, meta=meta)

    def get_task(self, server: str, task_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return _call(self._async.get_task, server, task_id, timeout=timeout)

    def task_result(self, server: str, task_id: str, *, timeout: float | None = None) -> _core.CallToolResult:
        return _call(self._async.task_result, server, task_id, timeout=timeout)

    def cancel_task(self, server: str, task_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return _call(self._async.cancel_task, server, task_id, timeout=timeout)

    def list_prompts(self) -> list[_core.Prompt]:
        return self._async.list_prompts()

    def list_resources(self) -> list[tuple[str, _core.Resource]]:
        return self._async.list_resources()

    def list_resource_templates(self) -> list[tuple[str, _core.ResourceTemplate]]:
        return self._async.list_resource_templates()

    def tool_name_collisions(self) -> list[tuple[str, str, str, str]]:
        return self._async.tool_name_collisions()

    def _repr_html_(self) -> str:
        return self._async._repr_html_()

    def __repr__(self) -> str:
        return f"sync.{self._async!r}"
