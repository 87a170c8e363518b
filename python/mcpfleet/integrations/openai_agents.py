"""The fleet (or any single client) as an OpenAI Agents SDK MCP server.

    from agents import Agent
    from mcpfleet.integrations.openai_agents import FleetMCPServer, servers

    agent = Agent(name="helper", mcp_servers=[FleetMCPServer(fleet)])      # every fleet tool
    agent = Agent(name="helper", mcp_servers=servers(fleet))               # one per fleet server

Results are the ``mcp`` SDK's own types (``to_mcp()``), which is what the Agents SDK reads.
"""

from __future__ import annotations

import inspect
from typing import Any

from . import Source, require

_agents_mcp = require("agents.mcp", "openai-agents", "the OpenAI Agents SDK")
_util = require("agents.mcp.util", "openai-agents", "the OpenAI Agents SDK")
import mcp.types  # noqa: E402  (the Agents SDK depends on it)

from .._fleet import Adapter  # noqa: E402  (for the annotation of servers())

__all__ = ["FleetMCPServer", "servers"]


class FleetMCPServer(_agents_mcp.MCPServer):
    """``source``: an ``Adapter`` (its tools under their public names) or a client
    (``StdioClient``, ``StreamableHTTPClient``, ``SSEClient``). ``server`` limits an Adapter
    to one of its servers. ``tool_filter`` is the Agents SDK's (``{"allowed_tool_names": [...],
    "blocked_tool_names": [...]}`` or ``callable(ToolFilterContext, tool) -> bool``, sync or
    async). The other keyword arguments are ``agents.mcp.MCPServer``'s (``require_approval``,
    ``use_structured_content``, ``failure_error_function``, ...).

    ``connect()`` (or ``async with``) starts what is not running yet (an Adapter's autoStart
    servers, one server, a client's session) and ``cleanup()`` stops only that. ``meta`` of a
    call reaches the server as the request's ``_meta``."""

    def __init__(self, source: Any, *, name: str | None = None, server: str | None = None, tool_filter: Any = None, **options: Any) -> None:
        super().__init__(**options)
        self._source = Source(source, server)
        fallback = "mcpfleet" if self._source.fleet is not None else getattr(source, "name", None)
        self._name = name or server or fallback or "mcpfleet"
        self._tool_filter = tool_filter
        self._cached: list[mcp.types.Tool] | None = None

    @property
    def name(self) -> str:
        return self._name

    async def connect(self) -> None:
        await self._source.open()

    async def cleanup(self) -> None:
        await self._source.close()

    async def __aenter__(self) -> FleetMCPServer:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.cleanup()

    async def list_tools(self, run_context: Any = None, agent: Any = None) -> list[mcp.types.Tool]:
        tools = [t.to_mcp() for t in await self._source.tools()]
        tools = [t for t in tools if await self._allowed(t, run_context, agent)]
        self._cached = tools
        return tools

    async def _allowed(self, tool: mcp.types.Tool, run_context: Any, agent: Any) -> bool:
        rule = self._tool_filter
        if rule is None:
            return True
        if isinstance(rule, dict):
            allowed, blocked = rule.get("allowed_tool_names"), rule.get("blocked_tool_names")
            return (allowed is None or tool.name in allowed) and (blocked is None or tool.name not in blocked)
        keep = rule(_util.ToolFilterContext(run_context=run_context, agent=agent, server_name=self.name), tool)
        return bool(await keep if inspect.isawaitable(keep) else keep)

    @property
    def cached_tools(self) -> list[mcp.types.Tool] | None:
        return self._cached

    async def call_tool(self, tool_name: str, arguments: dict[str, Any] | None, meta: dict[str, Any] | None = None) -> mcp.types.CallToolResult:
        return (await self._source.call(tool_name, arguments, meta)).to_mcp()

    async def list_prompts(self) -> mcp.types.ListPromptsResult:
        return mcp.types.ListPromptsResult(prompts=[p.to_mcp() for p in await self._source.prompts()])

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None) -> mcp.types.GetPromptResult:
        return (await self._source.get_prompt(name, arguments)).to_mcp()

    async def list_resources(self, cursor: str | None = None) -> mcp.types.ListResourcesResult:
        return mcp.types.ListResourcesResult(resources=[r.to_mcp() for r in await self._source.resources()])

    async def read_resource(self, uri: str) -> mcp.types.ReadResourceResult:
        return (await self._source.read_resource(uri)).to_mcp()


def servers(fleet: Adapter, **options: Any) -> list[FleetMCPServer]:
    """One ``FleetMCPServer`` per fleet server (named after it), so approvals and the tool's
    origin are per server. Tool names stay the fleet's public (prefixed) names."""
    return [FleetMCPServer(fleet, server=s.name, **options) for s in fleet.list_mcp_servers()]
