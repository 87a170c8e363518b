"""The fleet (or any single client) as a Pydantic AI toolset.

    from pydantic_ai import Agent
    from mcpfleet.integrations.pydantic_ai import FleetToolset

    agent = Agent("openai:gpt-5", toolsets=[FleetToolset(fleet)])

Tools keep their JSON schemas; a tool error is raised as ``ModelRetry`` (the model sees it and
may try again) or, with ``tool_error_behavior="failed"``, as ``ToolFailed``. The servers'
``instructions`` go to the model unless ``include_instructions=False``.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from . import Source, require

_toolsets = require("pydantic_ai.toolsets", "pydantic-ai", "Pydantic AI")
_pai = require("pydantic_ai", "pydantic-ai", "Pydantic AI")
_tools = require("pydantic_ai.tools", "pydantic-ai", "Pydantic AI")
import pydantic_core  # noqa: E402  (Pydantic AI depends on it)

__all__ = ["FleetToolset"]

_ARGUMENTS = pydantic_core.SchemaValidator(pydantic_core.core_schema.dict_schema(pydantic_core.core_schema.str_schema(), pydantic_core.core_schema.any_schema()))


class FleetToolset(_toolsets.AbstractToolset):
    """``source``: an ``Adapter`` (its tools under their public names; ``server`` limits it to
    one of its servers) or a client. Entering the toolset (the agent does) starts what is not
    running yet; leaving stops only that."""

    def __init__(
        self,
        source: Any,
        *,
        id: str | None = None,
        server: str | None = None,
        max_retries: int | None = None,
        tool_error_behavior: Literal["retry", "failed"] = "retry",
        include_instructions: bool = True,
    ) -> None:
        self._source = Source(source, server)
        self._id = id
        self._max_retries = max_retries
        self._tool_error_behavior = tool_error_behavior
        self._include_instructions = include_instructions
        self._entered = 0

    @property
    def id(self) -> str | None:
        return self._id

    async def __aenter__(self) -> FleetToolset:
        self._entered += 1
        if self._entered == 1:
            await self._source.open()
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        self._entered -= 1
        if self._entered == 0:
            await self._source.close()
        return None

    async def get_instructions(self, ctx: Any) -> str | None:
        return self._source.instructions() if self._include_instructions else None

    async def get_tools(self, ctx: Any) -> dict[str, Any]:
        retries = self._max_retries if self._max_retries is not None else ctx.max_retries
        tools = {}
        for t in await self._source.tools():
            definition = _tools.ToolDefinition(
                name=t.name,
                description=t.description,
                parameters_json_schema=t.input_schema,
                return_schema=t.output_schema,
                metadata={"annotations": t.annotations, "meta": t.to_dict().get("_meta")},
            )
            tools[t.name] = _toolsets.ToolsetTool(toolset=self, tool_def=definition, max_retries=retries, args_validator=_ARGUMENTS)
        return tools

    async def call_tool(self, name: str, tool_args: dict[str, Any], ctx: Any, tool: Any) -> Any:
        result = await self._source.call(name, tool_args)
        if result.is_error:
            message = result.text or f"the tool {name} failed"
            if self._tool_error_behavior == "failed":
                raise _pai.ToolFailed(message)
            raise _pai.ModelRetry(message)
        if isinstance(result.structured_content, dict):
            return result.structured_content
        parts = [_part(block) for block in result.content]
        return parts[0] if len(parts) == 1 else parts


def _part(block: Any) -> Any:
    """One content block as Pydantic AI takes a tool's return: text, or binary with its type."""
    kind = getattr(block, "type", None)
    if kind == "text":
        return block.text
    if kind in ("image", "audio"):
        return _pai.BinaryContent(data=base64.b64decode(block.data), media_type=block.mime_type)
    if kind == "resource":
        contents = block.resource
        if hasattr(contents, "text"):
            return contents.text
        return _pai.BinaryContent(data=base64.b64decode(contents.blob), media_type=contents.mime_type or "application/octet-stream")
    if kind == "resource_link":
        return f"resource {block.uri}"
    return str(block)
