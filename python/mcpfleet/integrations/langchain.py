"""The fleet (or any single client) as LangChain tools, prompts as messages, resources as blobs.

    from langchain.agents import create_agent
    from mcpfleet.integrations.langchain import to_langchain_tools

    agent = create_agent("openai:gpt-5", tools=await to_langchain_tools(fleet))

Each tool is a ``StructuredTool`` with the server's JSON schema and
``response_format="content_and_artifact"``: the model gets the content blocks (text, images as
base64 blocks), the artifact holds ``{"structured_content": ...}``. A tool error becomes an
error ``ToolMessage`` the model reads (``handle_tool_errors=False`` raises ``ToolException``).
"""

from __future__ import annotations

import base64
from typing import Any

from . import Source, require

_tools = require("langchain_core.tools", "langchain", "LangChain (langchain-core)")
_messages = require("langchain_core.messages", "langchain", "LangChain (langchain-core)")
_documents = require("langchain_core.documents.base", "langchain", "LangChain (langchain-core)")

__all__ = ["to_langchain_tools", "load_prompt", "load_resources"]


async def to_langchain_tools(source: Any, *, server: str | None = None, handle_tool_errors: bool = True) -> list[Any]:
    """Every tool of ``source`` (an ``Adapter``, optionally one ``server`` of it, or a client)."""
    drawn = Source(source, server)
    return [_tool(drawn, t, handle_tool_errors) for t in await drawn.tools()]


def _tool(drawn: Source, tool: Any, handle_tool_errors: bool) -> Any:
    name = tool.name

    async def call(**arguments: Any) -> tuple[Any, Any]:
        result = await drawn.call(name, arguments)
        if result.is_error:
            raise _tools.ToolException(result.text or f"the tool {name} failed")
        artifact = None if result.structured_content is None else {"structured_content": result.structured_content}
        return [_block(b) for b in result.content], artifact

    metadata = dict(tool.annotations or {})
    meta = tool.to_dict().get("_meta")
    if meta:
        metadata["_meta"] = meta
    return _tools.StructuredTool(
        name=name,
        description=tool.description or "",
        args_schema=tool.input_schema,
        coroutine=call,
        response_format="content_and_artifact",
        metadata=metadata or None,
        handle_tool_error=handle_tool_errors,
    )


def _block(block: Any) -> dict[str, Any]:
    """An MCP content block as a LangChain standard content block."""
    kind = getattr(block, "type", None)
    if kind == "text":
        return {"type": "text", "text": block.text}
    if kind in ("image", "audio"):
        return {"type": kind, "base64": block.data, "mime_type": block.mime_type}
    if kind == "resource":
        contents = block.resource
        if hasattr(contents, "text"):
            return {"type": "text", "text": contents.text}
        return {"type": "file", "base64": contents.blob, "mime_type": contents.mime_type or "application/octet-stream"}
    if kind == "resource_link":
        return {"type": "text", "text": f"resource {block.uri}"}
    return {"type": "text", "text": str(block)}


async def load_prompt(source: Any, name: str, arguments: dict[str, Any] | None = None) -> list[Any]:
    """A prompt as LangChain messages (``HumanMessage`` / ``AIMessage``)."""
    got = await Source(source).get_prompt(name, arguments)
    kinds = {"user": _messages.HumanMessage, "assistant": _messages.AIMessage}
    return [kinds[m.role](content=[_block(m.content)]) for m in got.messages]


async def load_resources(source: Any, uris: list[str] | None = None, *, server: str | None = None) -> list[Any]:
    """Resources as LangChain ``Blob``s (all the source lists, or ``uris``), with their URI and
    MIME type."""
    drawn = Source(source, server)
    if uris is None:
        uris = [r.uri for r in await drawn.resources()]
    blobs = []
    for uri in uris:
        for contents in (await drawn.read_resource(uri)).contents:
            data = contents.text if hasattr(contents, "text") else base64.b64decode(contents.blob)
            blobs.append(_documents.Blob.from_data(data, mime_type=contents.mime_type, metadata={"uri": contents.uri}))
    return blobs
