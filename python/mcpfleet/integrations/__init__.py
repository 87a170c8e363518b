"""Ready-made glue between mcpfleet and agent frameworks. Each module is imported on its own
(``from mcpfleet.integrations.openai_agents import FleetMCPServer``) and needs its framework,
installed with the matching extra (``pip install 'mcpfleet[openai-agents]'``)."""

from __future__ import annotations

from typing import Any

_UP = ("Running", "Connected")


def require(module: str, extra: str, framework: str):
    """Imports ``module``, or raises ImportError saying which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"this integration needs {framework}: pip install 'mcpfleet[{extra}]' ({e})") from e


class Source:
    """What an integration draws from: an ``Adapter`` (its tools under their public names;
    ``server`` limits it to one of its servers) or a single client. ``open()`` starts what is
    not running yet and ``close()`` stops only that."""

    def __init__(self, source: Any, server: str | None = None) -> None:
        from .._fleet import Adapter

        self.source = source
        self.fleet = source if isinstance(source, Adapter) else None
        self.server = server
        if server is not None and self.fleet is None:
            raise TypeError("server= needs an Adapter")
        self._started = False

    async def open(self) -> None:
        if self.fleet is not None and self.server is not None:
            if self.fleet.get_mcp_server(self.server).state not in _UP:
                await self.fleet.start(self.server)
                self._started = True
        elif self.fleet is not None:
            if not any(s.state in _UP for s in self.fleet.list_mcp_servers()):
                await self.fleet.start_auto()
                self._started = True
        elif not self.source.is_connected:
            await self.source.initialize()
            self._started = True

    async def close(self) -> None:
        if not self._started:
            return
        self._started = False
        if self.fleet is not None and self.server is not None:
            await self.fleet.stop(self.server)
        else:
            await self.source.close()

    def _ours(self, server: str | None) -> bool:
        return self.server is None or server == self.server

    async def tools(self) -> list[Any]:
        if self.fleet is not None:
            return [t for t in self.fleet.get_tools() if self._ours(t.server)]
        return await self.source.list_tools()

    async def call(self, name: str, arguments: dict[str, Any] | None, meta: dict[str, Any] | None = None) -> Any:
        if self.fleet is not None:
            return await self.fleet.execute_tool(name, arguments, meta=meta)
        return await self.source.call_tool(name, arguments, meta=meta)

    async def prompts(self) -> list[Any]:
        if self.fleet is not None:
            return self.fleet.list_prompts()
        return await self.source.list_prompts()

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None) -> Any:
        return await self.source.get_prompt(name, arguments)

    async def resources(self) -> list[Any]:
        if self.fleet is not None:
            return [r for server, r in self.fleet.list_resources() if self._ours(server)]
        return await self.source.list_resources()

    async def read_resource(self, uri: str) -> Any:
        if self.fleet is not None:
            return await self.fleet.read_resource(uri, server=self.server)
        return await self.source.read_resource(uri)

    def instructions(self) -> str | None:
        """The servers' instructions, each saying which prefix its tools carry in a fleet."""
        if self.fleet is None:
            info = self.source.server_info
            return info.instructions if info is not None else None
        parts = [
            f"Tools named `{s.tool_prefix}_…` come from `{s.name}`: {s.instructions}"
            for s in self.fleet.list_mcp_servers()
            if s.instructions and self._ours(s.name)
        ]
        return "\n\n".join(parts) or None
