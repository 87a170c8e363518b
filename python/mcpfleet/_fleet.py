"""The fleet: ``Adapter`` (over the Rust core) and the ``MCPServer`` definition class."""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Callable

from . import _core, _display
from ._core import McpDiscreteStatusUpdate

__all__ = ["Adapter", "MCPServer"]

_log = logging.getLogger("mcpfleet")

#: Seconds between refreshes of a notebook's table while servers start.
_LIVE_REFRESH = 0.25


@dataclass
class MCPServer:
    """One server definition (muster's ``MCPServer`` spec in Python spelling). ``Adapter``
    methods take it or a plain dict, flat (``{"name": ..., "type": ..., "command": ...}``) or
    in the document shape (``apiVersion``/``kind``/``metadata``/``spec``)."""

    name: str
    type: str = "stdio"
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    description: str = ""
    tool_prefix: str | None = None
    auto_start: bool = False
    timeout: float = 30.0
    init_timeout: float | None = None
    #: "auto" (default), "latest" or a protocol version, as the clients' ``protocol=``.
    protocol: str | None = None
    ping_interval: float | None = None
    restart: dict[str, Any] | None = None
    tools: dict[str, list[str]] | None = None
    auth: dict[str, Any] | None = None
    #: For remote servers: ``{"caBundle": path, "clientCert": path, "clientKey": path, "insecure": bool}``.
    tls: dict[str, Any] | None = None
    #: For remote servers: a callable (sync or async) or an object with ``get_access_token()``
    #: giving the bearer token for each request (see ``DynamicAuthClient``).
    token_provider: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The flat definition, leaving out empty fields."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "autoStart": self.auto_start, "timeout": self.timeout}
        optional = {
            "command": self.command, "args": self.args, "env": self.env, "cwd": self.cwd, "url": self.url,
            "headers": self.headers, "description": self.description, "toolPrefix": self.tool_prefix,
            "initTimeout": self.init_timeout, "protocol": self.protocol, "pingInterval": self.ping_interval, "restart": self.restart,
            "tools": self.tools, "auth": self.auth, "tls": self.tls,
        }
        out.update({k: v for k, v in optional.items() if v not in (None, "", [], {})})
        return out

    def __repr__(self) -> str:
        # env and header values may be secrets
        from . import _core

        url = None if self.url is None else _core._redact(self.url)
        return _core._redact(
            f"MCPServer(name={self.name!r}, type={self.type!r}, command={self.command!r}, args={self.args!r}, "
            f"env_keys={sorted(self.env)!r}, url={url!r}, header_names={sorted(self.headers)!r}"
            f"{', token_provider=True' if self.token_provider is not None else ''})"
        )


StatusCallback = Callable[[McpDiscreteStatusUpdate], Any]


async def _dispatch(stream: Any, callbacks: list[StatusCallback]) -> None:
    # Holds the stream and the callbacks, not the Adapter: an unclosed Adapter can still be
    # collected (which stops its servers and ends this stream).
    async for update in stream:
        for callback in list(callbacks):
            try:
                result = callback(update)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                _log.exception("on_status callback %r failed", callback)


class Adapter(_core.Adapter):
    __doc__ = _core.Adapter.__doc__

    @classmethod
    def from_config(
        cls,
        path: str | PathLike[str] | list[str | PathLike[str]],
        *,
        management_tools: bool = False,
        token_providers: dict[str, Any] | None = None,
        **handlers: Any,
    ) -> Adapter:
        """Loads a YAML file (one or many MCPServer documents), a directory in muster's layout
        (``<dir>/mcpservers/*.yaml|*.yml``) or a desktop client's ``{"mcpServers": ...}`` JSON;
        or a list of them, as one source.
        Any problem in any file raises ``ConfigError`` listing them all; nothing is registered.
        ``token_providers`` maps remote server names to their token providers; the handlers
        (``elicitation_handler=``, ...) are the constructor's."""
        return cls(config=path, management_tools=management_tools, token_providers=token_providers, **handlers)

    @classmethod
    def from_kubernetes(
        cls,
        namespace: str | None = None,
        *,
        kubeconfig: str | PathLike[str] | None = None,
        context: str | None = None,
        label_selector: str | None = None,
        group: str = "mcpfleet.dev",
        cross_namespace_secrets: bool = False,
        write_status: bool = True,
        leader_election: bool = True,
        lease_duration: float = 15.0,
        management_tools: bool = False,
        **handlers: Any,
    ) -> Adapter:
        """A fleet of a cluster's ``MCPServer`` resources (one namespace, or all). Entering it
        (``async with``) lists them, registers the valid ones (an invalid one is left out, with
        its problems logged) and starts the autoStart ones; then the watch makes added, changed
        and deleted resources added, updated and removed servers: only changed definitions
        restart. Configuration: ``kubeconfig``/``context``, else in-cluster, ``$KUBECONFIG`` or
        ``~/.kube/config``. ``group``: ``"mcpfleet.dev"`` or muster's
        ``"muster.giantswarm.io"``. A refused list (403) raises ``ConfigError`` naming the
        verb and resource the RBAC rules lack.

        Each resource's ``status`` is written as its server's state changes (coalesced; an
        invalid resource gets its problems), by one replica among those sharing a
        ``coordination.k8s.io`` Lease (``leader_election``; ``lease_duration`` seconds of a
        holder's silence before another takes over; ``write_status=False`` writes none).
        ``auth.clientCredentialsSecretRef`` is read from the resource's namespace, or any
        namespace with ``cross_namespace_secrets=True``."""
        options = {
            "namespace": namespace, "kubeconfig": kubeconfig, "context": context, "label_selector": label_selector, "group": group,
            "cross_namespace_secrets": cross_namespace_secrets, "write_status": write_status,
            "leader_election": leader_election, "lease_duration": lease_duration,
        }
        return cls(kubernetes=options, management_tools=management_tools, **handlers)

    def on_status(self, callback: StatusCallback) -> None:
        """Calls ``callback(update)`` (sync or async) on the event loop for every status change."""
        if not callable(callback):
            raise TypeError(f"on_status() needs a callable, got {type(callback).__name__}")
        state = self._status_state()
        state["callbacks"].append(callback)
        self._ensure_dispatcher()

    def _status_state(self) -> dict[str, Any]:
        try:
            return self.__dict__["_status"]
        except KeyError:
            return self.__dict__.setdefault("_status", {"callbacks": [], "task": None})

    def _ensure_dispatcher(self) -> None:
        state = self._status_state()
        if not state["callbacks"] or (state["task"] is not None and not state["task"].done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # started by `async with`
        state["task"] = loop.create_task(_dispatch(self.status_updates(), state["callbacks"]))

    async def __aenter__(self) -> Adapter:
        self._ensure_dispatcher()
        await self._start_source()
        await self.start_auto()
        return self

    async def start_auto(self) -> dict[str, str | None]:
        """Starts every ``autoStart`` server at once; returns each one's first error (None when
        it came up). In a notebook, a table shows the servers' states as they come up."""
        live = _display.live_display(self._repr_html_)
        pending = super().start_auto()
        if live is None:
            return await pending
        task = asyncio.ensure_future(pending)
        while not task.done():
            await asyncio.wait({task}, timeout=_LIVE_REFRESH)
            live.update(self._repr_html_())
        return task.result()

    def list_mcp_servers(self) -> _display.ServerList:
        """Every server's ``MCPServerInfo`` (a list; a table in a notebook)."""
        return _display.ServerList(super().list_mcp_servers())

    def get_tools(self) -> _display.ToolList:
        """The tools of every running server under their public names (plus the management
        tools when enabled), sorted by name (a list; a table in a notebook)."""
        return _display.ToolList(super().get_tools())

    def _repr_html_(self) -> str:
        servers = super().list_mcp_servers()
        up = sum(s.state in ("Running", "Connected") for s in servers)
        caption = f"mcpfleet: {len(servers)} server(s), {up} up, {len(super().get_tools())} tool(s)"
        return _display.servers_html(servers, caption)

    async def __aexit__(self, *exc_info: object) -> bool:
        await super().__aexit__(*exc_info)
        task = self._status_state()["task"]
        if task is not None:
            # The stream ends once the updates of the shutdown are delivered.
            try:
                await asyncio.wait_for(task, 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                task.cancel()
        return False


Adapter.__module__ = "mcpfleet"
