"""Against the npm reference server `@modelcontextprotocol/server-everything`, all transports."""

from __future__ import annotations

import pytest

import mcpfleet
from conftest import EVERYTHING, missing, node


async def exercise(client: mcpfleet.MCPClientBase) -> None:
    assert client.server_info.name == "mcp-servers/everything"
    names = {t.name for t in await client.list_tools()}
    assert {"echo", "get-sum", "get-tiny-image"} <= names
    assert (await client.call_tool("echo", {"message": "hi"})).text == "Echo: hi"
    r = await client.call_tool("get-sum", {"a": 2, "b": 3})
    assert "5" in r.text
    image = await client.call_tool("get-tiny-image", {})
    kinds = [c.type for c in image.content]
    assert "image" in kinds
    img = next(c for c in image.content if c.type == "image")
    assert img.mime_type == "image/png" and len(img.data) > 20
    resources = await client.list_resources()
    assert resources and all(r.uri for r in resources)
    read = await client.read_resource(resources[0].uri)
    assert read.contents
    prompts = await client.list_prompts()
    assert prompts
    await client.ping()


async def test_stdio():
    if not EVERYTHING.exists():
        missing("npm install has not been run")
    async with mcpfleet.StdioClient(node(), [str(EVERYTHING), "stdio"]) as client:
        await exercise(client)


async def test_streamable_http(everything_http):
    async with mcpfleet.StreamableHTTPClient(everything_http) as client:
        await exercise(client)


async def test_sse(everything_sse):
    async with mcpfleet.SSEClient(everything_sse) as client:
        await exercise(client)
