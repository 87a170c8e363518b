"""The built-in server over stdio and streamable HTTP: every client method, results, errors."""

from __future__ import annotations

import asyncio

import pytest

import mcpfleet
from conftest import demo_stdio


async def exercise(client: mcpfleet.MCPClientBase) -> None:
    info = client.server_info
    assert info is not None and info.name == "mcpfleet-demo"
    assert info.protocol_version == "2025-11-25"
    assert "tools" in info.capabilities
    assert info.instructions and "demo server" in info.instructions

    tools = {t.name: t for t in await client.list_tools()}
    assert {"echo", "add", "sleep", "fail", "stderr"} <= set(tools)
    assert tools["add"].input_schema["required"] == ["a", "b"]
    assert repr(tools["echo"]).startswith("Tool(name='echo'")

    r = await client.call_tool("add", {"a": 2, "b": 40})
    assert not r.is_error and r.text == "42" and r.structured_content == {"result": 42}
    [block] = r.content
    assert isinstance(block, mcpfleet.TextContent) and block.type == "text" and block.text == "42"

    r = await client.call_tool("echo", {"text": "héllo\nwörld"})
    assert r.text == "héllo\nwörld"

    r = await client.call_tool("fail", {"message": "it broke"})
    assert r.is_error and r.text == "it broke"

    with pytest.raises(mcpfleet.ServerError) as e:
        await client.call_tool("no_such_tool", {})
    assert e.value.code == -32602 and "no_such_tool" in str(e.value)

    [res] = await client.list_resources()
    assert res.uri == "demo://greeting" and res.mime_type == "text/plain"
    read = await client.read_resource("demo://greeting")
    assert read.text == "Hello from the mcpfleet demo server!"
    [contents] = read.contents
    assert isinstance(contents, mcpfleet.TextResourceContents) and contents.uri == "demo://greeting"

    [prompt] = await client.list_prompts()
    assert prompt.name == "greet" and [a.name for a in prompt.arguments] == ["name"] and prompt.arguments[0].required
    got = await client.get_prompt("greet", {"name": "Ada"})
    [msg] = got.messages
    assert msg.role == "user" and msg.content.text == "Please greet Ada warmly."

    await client.ping()

    with pytest.raises(mcpfleet.RequestTimeoutError) as e:
        await client.call_tool("sleep", {"seconds": 10}, timeout=0.2)
    assert isinstance(e.value, TimeoutError) and e.value.timeout == pytest.approx(0.2)
    # the connection is still good after a timeout
    assert (await client.call_tool("echo", {"text": "still here"})).text == "still here"

    # many calls in flight on one connection
    results = await asyncio.gather(*(client.call_tool("add", {"a": i, "b": i}) for i in range(50)))
    assert [r.structured_content["result"] for r in results] == [2 * i for i in range(50)]


async def test_stdio():
    async with demo_stdio() as client:
        assert client.is_connected and client.transport == "stdio"
        await exercise(client)
        await client.call_tool("stderr", {"text": "a line for stderr"})
        for _ in range(100):
            if "a line for stderr" in client.get_stderr():
                break
            await asyncio.sleep(0.02)
        assert "a line for stderr" in client.get_stderr()
        pid = client.pid
        assert isinstance(pid, int)
    assert not client.is_connected and client.pid is None
    assert "a line for stderr" in client.get_stderr()  # still readable after close


async def test_streamable_http(demo_http):
    async with mcpfleet.StreamableHTTPClient(demo_http) as client:
        assert client.transport == "streamable-http"
        await exercise(client)


async def test_calls_before_initialize_and_after_close_raise():
    client = demo_stdio()
    with pytest.raises(mcpfleet.ServerNotRunningError, match="initialize"):
        await client.list_tools()
    await client.initialize()
    await client.initialize()  # idempotent: still one server
    await client.close()
    await client.close()
    with pytest.raises(mcpfleet.ServerNotRunningError):
        await client.call_tool("echo", {"text": "x"})
    # a closed client can be initialized again
    async with client:
        assert (await client.call_tool("echo", {"text": "again"})).text == "again"


async def test_arguments_are_checked_before_sending():
    async with demo_stdio() as client:
        with pytest.raises(TypeError, match="dict"):
            await client.call_tool("echo", ["not", "a", "dict"])
        with pytest.raises(TypeError, match=r"\$\.x"):
            await client.call_tool("echo", {"x": object()})
        with pytest.raises(TypeError, match="not finite"):
            await client.call_tool("add", {"a": float("nan"), "b": 1})
        with pytest.raises(mcpfleet.ConfigError, match="timeout"):
            await client.ping(timeout=-1)


async def test_cancelling_the_task_cancels_the_request():
    async with demo_stdio() as client:
        task = asyncio.create_task(client.call_tool("sleep", {"seconds": 30}))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the server saw notifications/cancelled: its sleep tool reports it on stderr
        for _ in range(200):
            if "sleep cancelled" in client.get_stderr():
                break
            await asyncio.sleep(0.02)
        assert "sleep cancelled" in client.get_stderr()
        assert (await client.call_tool("echo", {"text": "ok"})).text == "ok"


def test_command_line_and_light_start() -> None:
    """A fleet of built-in servers is started per process: the server must not import asyncio,
    typing or logging, and a bad command line says what it expected."""
    import subprocess
    import sys

    probe = "import sys, mcpfleet.demo_server; print(sorted({'asyncio', 'typing', 'logging', 'argparse'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out
    bad = subprocess.run([sys.executable, "-m", "mcpfleet.demo_server", "--http", "x"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "expected no arguments or --http PORT" in bad.stderr and "'--http x'" in bad.stderr
    # The lazily imported names still resolve, and `dir()` lists them.
    assert {"Adapter", "MCPServer", "MCPClient"} <= set(dir(mcpfleet)) and mcpfleet.Adapter.__name__ == "Adapter"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        mcpfleet.Nope  # noqa: B018
