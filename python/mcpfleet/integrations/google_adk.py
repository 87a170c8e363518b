"""The fleet (or any single client) as a Google ADK toolset.

    from google.adk.agents import LlmAgent
    from mcpfleet.integrations.google_adk import FleetToolset

    agent = LlmAgent(name="helper", model="gemini-2.5-flash", tools=[FleetToolset(fleet)])

Each tool is declared with the server's JSON schema; its answer is the MCP result as a dict
(``content``, ``structuredContent``, ``isError``), which is what ADK's own MCP tools give the model.
"""

from __future__ import annotations

from typing import Any

from . import Source, require

_base_tool = require("google.adk.tools.base_tool", "google-adk", "Google ADK")
_base_toolset = require("google.adk.tools.base_toolset", "google-adk", "Google ADK")
_genai_types = require("google.genai.types", "google-adk", "Google ADK")

__all__ = ["FleetToolset"]


class FleetTool(_base_tool.BaseTool):
    """One tool of a fleet or client, as ADK calls it."""

    def __init__(self, source: Source, tool: Any) -> None:
        super().__init__(name=tool.name, description=tool.description or "")
        self._source = source
        self._schema = tool.input_schema
        self.original_name = tool.name

    def _get_declaration(self) -> Any:
        return _genai_types.FunctionDeclaration(name=self.name, description=self.description, parameters_json_schema=self._schema)

    async def run_async(self, *, args: dict[str, Any], tool_context: Any) -> Any:
        return (await self._source.call(self.original_name, args)).to_dict()


class FleetToolset(_base_toolset.BaseToolset):
    """``source``: an ``Adapter`` (its tools under their public names; ``server`` limits it to
    one of its servers) or a client. ``tool_filter`` and ``tool_name_prefix`` are ADK's. The
    first listing starts what is not running yet; ``close()`` stops only that."""

    def __init__(self, source: Any, *, server: str | None = None, tool_filter: Any = None, tool_name_prefix: str | None = None) -> None:
        super().__init__(tool_filter=tool_filter, tool_name_prefix=tool_name_prefix)
        self._source = Source(source, server)

    async def get_tools(self, readonly_context: Any = None) -> list[Any]:
        await self._source.open()
        tools = [FleetTool(self._source, t) for t in await self._source.tools()]
        return [t for t in tools if self._is_tool_selected(t, readonly_context)]

    async def close(self) -> None:
        await self._source.close()
