"""Against the official Python SDK's servers (`mcp` 2.x) on stdio, SSE and streamable HTTP."""

from __future__ import annotations

import asyncio
import inspect

import pytest

import mcpfleet
from conftest import PY, SDK_SERVER, free_port, start_server, stop


async def exercise(client: mcpfleet.MCPClientBase) -> None:
    assert client.server_info.name == "sdk-test-peer"
    tools = {t.name: t for t in await client.list_tools()}
    assert {"add", "echo", "boom", "slow", "pid"} <= set(tools)
    assert tools["add"].description == "Add two integers."
    assert set(tools["add"].input_schema["properties"]) == {"a", "b"}

    r = await client.call_tool("add", {"a": 20, "b": 22})
    assert not r.is_error and r.text == "42"

    r = await client.call_tool("boom", {"message": "kaput"})
    assert r.is_error and "boom" in r.text  # the SDK hides the exception text

    assert (await client.read_resource("test://greeting")).text == "hello from the SDK"
    assert [r.uri for r in await client.list_resources()] == ["test://greeting"]

    [prompt] = await client.list_prompts()
    assert prompt.name == "hello"
    got = await client.get_prompt("hello", {"name": "Grace"})
    assert "Say hello to Grace" in got.messages[0].content.text

    await client.ping()

    with pytest.raises(mcpfleet.ServerError):
        await client.read_resource("test://missing")


async def test_stdio():
    async with mcpfleet.StdioClient(PY, [SDK_SERVER, "stdio"]) as client:
        await exercise(client)


async def test_streamable_http(sdk_http):
    async with mcpfleet.StreamableHTTPClient(sdk_http) as client:
        await exercise(client)


async def test_sse(sdk_sse):
    async with mcpfleet.SSEClient(sdk_sse) as client:
        assert client.transport == "sse"
        await exercise(client)


async def test_slow_call_times_out_and_the_server_is_told(tmp_path):
    marker = tmp_path / "cancelled"
    async with mcpfleet.StdioClient(PY, [SDK_SERVER, "stdio"]) as client:
        with pytest.raises(mcpfleet.RequestTimeoutError):
            await client.call_tool("slow", {"seconds": 30, "marker": str(marker)}, timeout=0.5)
        for _ in range(250):
            if marker.exists():
                break
            await asyncio.sleep(0.02)
        assert marker.read_text() == "cancelled", "the server never got notifications/cancelled"
        assert (await client.call_tool("add", {"a": 1, "b": 1})).text == "2"


async def wait_for_marker(marker) -> str:
    for _ in range(250):
        if marker.exists():
            return marker.read_text()
        await asyncio.sleep(0.02)
    return "never written"


@pytest.mark.parametrize("how", ["task.cancel", "wait_for", "never awaited"])
async def test_cancelled_call_is_cancelled_on_the_server(tmp_path, how):
    marker = tmp_path / "cancelled"
    async with mcpfleet.StdioClient(PY, [SDK_SERVER, "stdio"]) as client:
        call = client.call_tool("slow", {"seconds": 30, "marker": str(marker)})
        assert asyncio.iscoroutine(call) and inspect.isawaitable(call)
        if how == "task.cancel":
            task = asyncio.create_task(call)
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        elif how == "wait_for":
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(call, 0.3)
        else:
            await asyncio.sleep(0.3)
            del call
        assert await wait_for_marker(marker) == "cancelled", "the server never got notifications/cancelled"
        # The session is still fine; results reach concurrent callers in any order.
        results = await asyncio.gather(*(client.call_tool("add", {"a": i, "b": 1}) for i in range(20)))
        assert [r.text for r in results] == [str(i + 1) for i in range(20)]


async def test_expired_streamable_http_session_is_reinitialized():
    port = free_port()
    proc = start_server([PY, SDK_SERVER, "http", str(port)], port)
    try:
        async with mcpfleet.StreamableHTTPClient(f"http://127.0.0.1:{port}/mcp") as client:
            assert (await client.call_tool("add", {"a": 1, "b": 2})).text == "3"
            # A restarted server has forgotten the session: it answers 404 to the old id.
            stop(proc)
            proc = start_server([PY, SDK_SERVER, "http", str(port)], port)
            assert (await client.call_tool("add", {"a": 2, "b": 2})).text == "4"
    finally:
        stop(proc)
