"""Against the official Python SDK's servers (`mcp` 2.x) on stdio, SSE and streamable HTTP."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os

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

    # `meta` is the request's `_meta`, as given (trace context, a caller's own keys).
    meta = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "example.com/ünïcode": {"n": [1, 2.5, None]}}
    r = await client.call_tool("request_meta", meta=meta)
    assert json.loads(r.text)["meta"] == meta
    assert json.loads((await client.call_tool("request_meta", {}, meta=None)).text)["meta"] == {}
    with pytest.raises(TypeError, match="meta must be a dict"):
        await client.call_tool("request_meta", meta=["not", "a", "dict"])

    assert (await client.read_resource("test://greeting")).text == "hello from the SDK"
    assert [r.uri for r in await client.list_resources()] == ["test://greeting"]
    [template] = [t for t in await client.list_resource_templates() if t.name == "item"]
    assert (template.uri_template, template.name, template.title, template.mime_type) == ("test://items/{item}", "item", "An item ✓", "text/plain")
    assert (await client.read_resource("test://items/42")).text == "item 42"

    [prompt] = [p for p in await client.list_prompts() if p.name == "hello"]
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


def sdk_client(transport: str, http_url: str):
    if transport == "stdio":
        return mcpfleet.StdioClient(PY, [SDK_SERVER, "stdio"])
    return mcpfleet.StreamableHTTPClient(http_url)


@pytest.mark.parametrize("transport", ["stdio", "streamable-http"])
async def test_slow_call_times_out_and_the_server_is_told(tmp_path, transport, sdk_http):
    marker = tmp_path / "cancelled"
    async with sdk_client(transport, sdk_http) as client:
        await client.call_tool("add", {"a": 0, "b": 0})  # HTTP: later calls go around rmcp's worker
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


@pytest.mark.parametrize("transport", ["stdio", "streamable-http"])
@pytest.mark.parametrize("how", ["task.cancel", "wait_for", "never awaited"])
async def test_cancelled_call_is_cancelled_on_the_server(tmp_path, how, transport, sdk_http):
    marker = tmp_path / "cancelled"
    async with sdk_client(transport, sdk_http) as client:
        await client.call_tool("add", {"a": 0, "b": 0})
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


async def test_what_a_server_sends_during_a_call_is_handled(sdk_http, caplog):
    """Over streamable HTTP the server may log, report progress and ask the client things on
    the call's own event stream before it answers."""
    caplog.set_level(logging.INFO, logger="mcpfleet.server")
    async with mcpfleet.StreamableHTTPClient(sdk_http) as client:
        await client.call_tool("add", {"a": 1, "b": 1})  # calls now take the direct way (the session is known)
        r = await client.call_tool("chatty", {"text": "naïve"}, timeout=10)
        assert r.text == "said naïve"
        # Log records reach Python logging on a thread of their own: they may trail the answer.
        for _ in range(100):
            if any("working on naïve" in rec.getMessage() for rec in caplog.records if rec.name == "mcpfleet.server"):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the server's log message was not delivered")
        results = await asyncio.gather(*(client.call_tool("chatty", {"text": str(i)}) for i in range(10)))
        assert [r.text for r in results] == [f"said {i}" for i in range(10)]


async def test_a_call_whose_stream_breaks_off_is_resumed(sdk_http, caplog):
    """The server ends the call's event stream (SSE polling) and answers on the stream the
    client resumes with Last-Event-ID."""
    caplog.set_level(logging.DEBUG, logger="mcpfleet")
    mcpfleet._core._set_log_level(logging.DEBUG)
    try:
        async with mcpfleet.StreamableHTTPClient(sdk_http) as client:
            await client.call_tool("add", {"a": 1, "b": 1})
            assert (await client.call_tool("break_off", {}, timeout=10)).text == "after the break"
            assert any("resuming a call's event stream" in r.getMessage() for r in caplog.records)
            assert (await client.call_tool("add", {"a": 1, "b": 1})).text == "2"
    finally:
        mcpfleet._core._set_log_level(logging.INFO)


def connections_to(port: int) -> int:
    """This process's established TCP connections to 127.0.0.1:`port`."""
    import re

    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            m = re.match(r"socket:\[(\d+)\]", os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
        if m:
            ours.add(m.group(1))
    count = 0
    with open("/proc/net/tcp") as f:
        for line in list(f)[1:]:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if state == "01" and int(remote.split(":")[1], 16) == port and inode in ours:
                count += 1
    return count


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="counts connections through /proc")
async def test_calls_reuse_connections_and_survive_the_server_closing_idle_ones():
    """Calls go over pooled keep-alive connections (not one per call), and a connection the
    server closed while idle is replaced without the call failing (JSON replies here)."""
    port = free_port()
    proc = start_server([PY, SDK_SERVER, "http-json", str(port)], port)
    try:
        async with mcpfleet.StreamableHTTPClient(f"http://127.0.0.1:{port}/mcp") as client:
            for i in range(60):
                assert (await client.call_tool("add", {"a": i, "b": 1})).text == str(i + 1)
            assert connections_to(port) <= 3, connections_to(port)
            results = await asyncio.gather(*(client.call_tool("echo", {"text": f"ü{i}"}) for i in range(16)))
            assert [r.text for r in results] == [f"ü{i}" for i in range(16)]
            busy = connections_to(port)
            assert busy <= 16 + 3, busy
            for round in range(3):
                await asyncio.sleep(0.6)  # the server closes idle connections after 0.3 s
                assert (await client.call_tool("echo", {"text": f"after idle {round}"})).text == f"after idle {round}"
    finally:
        stop(proc)


@pytest.mark.parametrize("transport", ["stdio", "streamable-http"])
async def test_the_servers_logging_level_is_set(transport, sdk_http):
    async with sdk_client(transport, sdk_http) as client:
        assert client.protocol_version == client.server_info.protocol_version == "2025-11-25"
        assert (await client.call_tool("logging_level")).text == "none"
        await client.set_logging_level("ERROR")
        assert (await client.call_tool("logging_level")).text == "error"
        await client.set_logging_level("info")
        assert (await client.call_tool("logging_level")).text == "info"
        with pytest.raises(mcpfleet.ConfigError, match='unknown logging level "loud"'):
            await client.set_logging_level("loud")
    assert mcpfleet.StdioClient(PY, [SDK_SERVER]).protocol_version is None


async def test_a_server_without_logging_says_so():
    from conftest import FIXTURES

    async with mcpfleet.StdioClient(PY, [str(FIXTURES / "hostile_server.py")]) as client:
        with pytest.raises(mcpfleet.ServerError, match="no such method"):
            await client.set_logging_level("debug")


async def test_a_stream_the_server_keeps_open_after_the_answer_does_not_hold_up_the_call():
    """The answer is returned when it arrives; the stream's end is awaited off the call's path."""
    from conftest import FIXTURES

    port = free_port()
    proc = start_server([PY, str(FIXTURES / "lingering_sse_server.py"), str(port), "10"], port)
    try:
        async with mcpfleet.StreamableHTTPClient(f"http://127.0.0.1:{port}/mcp") as client:
            await client.call_tool("echo", {"text": "first"})  # the session is known from here on
            started = asyncio.get_running_loop().time()
            for i in range(20):
                assert (await client.call_tool("echo", {"text": f"ü{i}"})).text == f"ü{i}"
            # Each stream stays open 10 s after its answer; waiting for its end would take 200 s.
            assert asyncio.get_running_loop().time() - started < 5
    finally:
        stop(proc)
