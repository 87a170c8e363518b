"""The fleet (`Adapter`) against real servers: the built-in one, the official SDK's, on all
three transports; crashes, restarts, crash loops, concurrency, collisions, dynamic changes."""

from __future__ import annotations

import asyncio
import json
import gc
import os
import signal
import sys

import pytest

import mcpfleet
from conftest import EVERYTHING, PY, alive, free_port, node, start_server, stop, wait_gone

DEMO = {"type": "stdio", "command": PY, "args": ["-m", "mcpfleet.demo_server"]}
FAST_RESTART = {"initialDelay": 0.05, "factor": 2, "maxDelay": 0.2, "maxRestarts": 3}


def demo(name: str, **extra) -> dict:
    return {"name": name, **DEMO, **extra}


async def wait_state(fleet: mcpfleet.Adapter, name: str, *states: str, timeout: float = 15.0) -> mcpfleet.MCPServerInfo:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        info = fleet.get_mcp_server(name)
        if info.state in states:
            return info
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{name} stayed {info.state} (last error: {info.last_error}), wanted {states}")
        await asyncio.sleep(0.02)


async def test_three_transports_in_one_fleet(sdk_http, sdk_sse):
    servers = [
        demo("demo", autoStart=True),
        {"name": "sdk-http", "type": "streamable-http", "url": sdk_http, "toolPrefix": "web", "autoStart": True},
        {"name": "sdk-sse", "type": "sse", "url": sdk_sse, "toolPrefix": "old", "autoStart": True},
        {"name": "everything", "command": node(), "args": [str(EVERYTHING), "stdio"], "toolPrefix": "ev", "autoStart": True, "initTimeout": 30},
    ]
    async with mcpfleet.Adapter(servers) as fleet:
        states = {s.name: s.state for s in fleet.list_mcp_servers()}
        assert states == {"demo": "Running", "sdk-http": "Connected", "sdk-sse": "Connected", "everything": "Running"}
        tools = {t.name: t for t in fleet.get_tools()}
        assert {"demo_echo", "demo_add", "web_add", "web_echo", "old_add"} <= set(tools)
        assert tools["web_add"].server == "sdk-http" and tools["web_add"].original_name == "add"
        echo = tools["web_echo"]
        assert echo.title == "Echo ✓" and echo.meta == {"example.com/owner": "tests"}
        assert echo.icons == [{"src": "data:image/svg+xml;base64,PHN2Zy8+", "mimeType": "image/svg+xml", "sizes": ["any"]}]
        assert tools["web_add"].icons is None and tools["web_add"].meta is None
        up = fleet.get_mcp_server("sdk-http")
        assert up.server_info.name == "sdk-test-peer" and up.protocol_version == up.server_info.protocol_version == "2025-11-25"
        assert "tools" in up.server_info.capabilities and up.instructions == up.server_info.instructions
        assert (await fleet.execute_tool("demo_add", {"a": 2, "b": 3})).structured_content == {"result": 5}
        assert (await fleet.execute_tool("web_add", {"a": 20, "b": 22})).text == "42"
        assert (await fleet.execute_tool("old_echo", {"text": "hi"})).text == "hi"
        trace = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
        assert json.loads((await fleet.execute_tool("web_request_meta", meta=trace)).text)["meta"] == trace
        assert "Echo: npm" in (await fleet.execute_tool("ev_echo", {"message": "npm"})).text
        prompts = {p.name for p in fleet.list_prompts()}
        assert {"demo_greet", "web_hello", "old_hello"} <= prompts
        got = await fleet.get_prompt("web_hello", {"name": "Ada"})
        assert "Ada" in got.messages[0].content.text
        resources = fleet.list_resources()
        assert ("sdk-http", "test://greeting") in [(s, r.uri) for s, r in resources]
        templates = [(s, t.uri_template) for s, t in fleet.list_resource_templates()]
        assert ("sdk-http", "test://items/{item}") in templates and ("sdk-sse", "test://items/{item}") in templates
        assert (await fleet.read_resource("test://items/7")).text == "item 7"
        assert (await fleet.read_resource("demo://greeting")).text.startswith("Hello")
        assert (await fleet.read_resource("test://greeting", server="sdk-sse")).text == "hello from the SDK"
        info = fleet.get_mcp_server("demo")
        assert info.tool_count == len([t for t in tools.values() if t.server == "demo"])
        assert info.pid and alive(info.pid) and info.uptime >= 0
        demo_pid = info.pid
    assert all(s.state in ("Stopped", "Disconnected") for s in fleet.list_mcp_servers())
    assert all(s.server_info is None and s.protocol_version is None for s in fleet.list_mcp_servers())
    assert wait_gone(demo_pid)


async def test_kill_9_mid_call_restarts_and_relists(tmp_path):
    updates = []
    async with mcpfleet.Adapter([demo("demo", autoStart=True, restart=FAST_RESTART)]) as fleet:
        fleet.on_status(updates.append)
        pid = fleet.get_mcp_server("demo").pid
        call = asyncio.create_task(fleet.execute_tool("demo_sleep", {"seconds": 30}))
        await asyncio.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(mcpfleet.ServerExitedError) as e:
            await call
        assert e.value.exit_code == -9
        info = await wait_state(fleet, "demo", "Running")
        assert info.pid != pid and info.restart_count == 1
        assert "demo_echo" in {t.name for t in fleet.get_tools()}
        assert (await fleet.execute_tool("demo_echo", {"text": "back"})).text == "back"
    seen = [(u.name, u.state, u.process_status) for u in updates]
    assert ("demo", "Failed", "ProcessExitedWithError") in seen
    assert ("demo", "Restarting", "ProcessExitedWithError") in seen
    assert seen.index(("demo", "Restarting", "ProcessExitedWithError")) < seen.index(("demo", "Running", "ProcessRunning"))
    assert seen[-1] == ("demo", "Stopped", "ProcessStopped")


async def test_crash_loop_stops_retrying():
    crasher = {"name": "crasher", "type": "stdio", "command": "sh", "args": ["-c", "echo dying >&2; exit 3"], "restart": FAST_RESTART}
    fleet = mcpfleet.Adapter([crasher])
    try:
        with pytest.raises(mcpfleet.ServerExitedError) as e:
            await fleet.start("crasher")
        assert "dying" in e.value.stderr_tail
        info = await wait_state(fleet, "crasher", "CrashLoop")
        assert info.restart_count == 3
        assert "gave up after 3 restarts" in info.last_error and "exited with status 3" in info.last_error
        # an explicit start tries again
        with pytest.raises(mcpfleet.ServerExitedError):
            await fleet.start("crasher")
    finally:
        await fleet.close()


async def test_twenty_servers_start_concurrently_despite_a_hang_and_a_missing_command():
    servers = [demo(f"s{i:02d}", autoStart=True) for i in range(18)]
    servers.append({"name": "hangs", "type": "stdio", "command": "sh", "args": ["-c", "exec sleep 60"], "initTimeout": 2, "autoStart": True, "restart": {"enabled": False}})
    servers.append({"name": "missing", "type": "stdio", "command": "/nonexistent/mcp-server", "autoStart": True, "restart": {"enabled": False}})
    fleet = mcpfleet.Adapter(servers)
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        outcomes = await fleet.start_auto()
        elapsed = loop.time() - t0
        assert outcomes["missing"] and "nonexistent" in outcomes["missing"]
        assert "timed out" in outcomes["hangs"]
        assert all(outcomes[f"s{i:02d}"] is None for i in range(18)), outcomes
        # the hang costs its own timeout, not one per server
        assert elapsed < 15, elapsed
        states = {s.name: s.state for s in fleet.list_mcp_servers()}
        assert states["hangs"] == "Failed" and states["missing"] == "Failed"
        assert sum(1 for s in states.values() if s == "Running") == 18
        assert len([t for t in fleet.get_tools() if t.name.endswith("_echo")]) == 18
    finally:
        await fleet.close()


async def test_restart_budget_refills_after_a_stable_period():
    policy = {"initialDelay": 0.05, "maxRestarts": 1, "resetAfter": 1.0}
    async with mcpfleet.Adapter([demo("demo", autoStart=True, restart=policy)]) as fleet:
        for expected_count in (1, 2):
            # Up for longer than resetAfter: the one restart allowed is available again.
            await asyncio.sleep(1.2)
            os.kill(fleet.get_mcp_server("demo").pid, signal.SIGKILL)
            await wait_state(fleet, "demo", "Restarting")
            info = await wait_state(fleet, "demo", "Running")
            assert info.restart_count == expected_count
        # Killed again at once: the budget is spent.
        os.kill(info.pid, signal.SIGKILL)
        info = await wait_state(fleet, "demo", "CrashLoop")
        assert "gave up after 1 restarts" in info.last_error and info.restart_count == 2


async def test_update_or_stop_during_a_start():
    slow = {"name": "slow", "type": "stdio", "command": "sh", "args": ["-c", f"sleep 1; exec {PY} -m mcpfleet.demo_server"]}
    async with mcpfleet.Adapter([slow]) as fleet:
        starting = asyncio.create_task(fleet.start("slow"))
        await wait_state(fleet, "slow", "Starting")
        # The update restarts the server with the new definition; the waiting start sees that outcome.
        updated = await fleet.update("slow", demo("slow", toolPrefix="quick"))
        assert updated.state == "Running"
        assert (await asyncio.wait_for(starting, 10)).state == "Running"
        assert "quick_echo" in {t.name for t in fleet.get_tools()}
        await fleet.update("slow", slow)
        await fleet.stop("slow")
        starting = asyncio.create_task(fleet.start("slow"))
        await wait_state(fleet, "slow", "Starting")
        await fleet.stop("slow")
        with pytest.raises(mcpfleet.ServerNotRunningError) as e:
            await asyncio.wait_for(starting, 10)
        assert e.value.server == "slow" and "stopped before it was up" in str(e.value)


async def test_streamable_http_server_restart_is_followed():
    """A remote server that restarts forgets its sessions: a quick restart is absorbed by the
    next request (re-initialization); a long outage is seen by ping, and the fleet reconnects."""
    port = free_port()
    argv = [PY, "-m", "mcpfleet.demo_server", "--http", str(port)]
    server = start_server(argv, port)
    url = f"http://127.0.0.1:{port}/mcp"
    # Same server twice: `web` without ping (so the quick restart is certainly met by a call),
    # `watched` with a short ping (so the outage is certainly seen).
    servers = [{"name": "web", "type": "streamable-http", "url": url, "autoStart": True, "pingInterval": 0},
               {"name": "watched", "type": "streamable-http", "url": url, "autoStart": True, "pingInterval": 1,
                "restart": {"initialDelay": 0.1, "maxDelay": 0.3, "maxRestarts": 50}}]
    try:
        async with mcpfleet.Adapter(servers) as fleet:
            assert (await fleet.execute_tool("web_echo", {"text": "one"})).text == "one"
            stop(server)
            server = start_server(argv, port)
            assert (await fleet.execute_tool("web_echo", {"text": "two"})).text == "two"
            assert fleet.get_mcp_server("web").state == "Connected"
            await wait_state(fleet, "watched", "Connected")
            stop(server)
            await wait_state(fleet, "watched", "Restarting", "Failed", "Connecting")
            with pytest.raises(mcpfleet.ServerNotRunningError):
                await fleet.execute_tool("watched_echo", {"text": "down"})
            server = start_server(argv, port)
            info = await wait_state(fleet, "watched", "Connected")
            assert info.restart_count >= 1
            assert (await fleet.execute_tool("watched_echo", {"text": "three"})).text == "three"
    finally:
        stop(server)


async def test_stopped_server_tools_leave_and_calls_say_why():
    async with mcpfleet.Adapter([demo("demo", autoStart=True)]) as fleet:
        await fleet.stop("demo")
        assert fleet.get_tools() == []
        with pytest.raises(mcpfleet.ServerNotRunningError) as e:
            await fleet.execute_tool("demo_echo", {"text": "x"})
        assert e.value.server == "demo" and e.value.state == "Stopped"
        await fleet.start("demo")
        with pytest.raises(mcpfleet.ToolNotFoundError) as e:
            await fleet.execute_tool("demo_ecko", {})
        assert e.value.close_matches[0] == "demo_echo"
        with pytest.raises(mcpfleet.ServerNotFoundError):
            await fleet.start("dmeo")


async def test_collisions_and_long_names():
    long_prefix = "p" + "x" * 70
    servers = [demo("a", toolPrefix="same", autoStart=True), demo("b", toolPrefix="same", autoStart=True), demo("c", toolPrefix=long_prefix, autoStart=True)]
    async with mcpfleet.Adapter(servers) as fleet:
        tools = fleet.get_tools()
        names = [t.name for t in tools]
        assert len(names) == len(set(names))
        assert all(len(n) <= 64 for n in names)
        echo = [t for t in tools if t.original_name == "echo"]
        assert {t.server for t in echo} == {"a", "b", "c"}
        assert next(t for t in echo if t.server == "a").name == "same_echo"
        renamed = next(t for t in echo if t.server == "b").name
        assert renamed.startswith("same_echo_")
        assert ("same_echo", "a", "b", renamed) in fleet.tool_name_collisions()
        assert (await fleet.execute_tool(renamed, {"text": "from b"})).text == "from b"
        long_echo = next(t for t in echo if t.server == "c").name
        assert len(long_echo) == 64 and (await fleet.execute_tool(long_echo, {"text": "long"})).text == "long"
    # the same fleet names its tools the same way next time
    async with mcpfleet.Adapter(list(reversed(servers))) as again:
        assert sorted(t.name for t in again.get_tools()) == sorted(names)


async def test_tool_filters():
    async with mcpfleet.Adapter([demo("demo", autoStart=True, tools={"allow": ["e*", "add"], "deny": ["echo"]})]) as fleet:
        assert sorted(t.original_name for t in fleet.get_tools()) == ["add"]


async def test_dynamic_create_update_delete_while_calls_run():
    async with mcpfleet.Adapter() as fleet:
        info = await fleet.create(demo("one", autoStart=True))
        assert info.state == "Running"
        busy = [asyncio.create_task(fleet.execute_tool("one_add", {"a": i, "b": 0})) for i in range(50)]
        other = await fleet.create(mcpfleet.MCPServer(name="two", command=PY, args=["-m", "mcpfleet.demo_server"], auto_start=True, tool_prefix="t2"))
        assert other.state == "Running"
        assert [r.structured_content["result"] for r in await asyncio.gather(*busy)] == list(range(50))
        # description only: no restart
        pid = fleet.get_mcp_server("one").pid
        await fleet.update("one", demo("one", autoStart=True, description="changed"))
        assert fleet.get_mcp_server("one").pid == pid
        # the prefix changes what is published: restart, new names
        slow = asyncio.create_task(fleet.execute_tool("one_sleep", {"seconds": 5}))
        await asyncio.sleep(0.2)
        updated = await fleet.update("one", demo("one", autoStart=True, toolPrefix="uno"))
        assert updated.state == "Running" and updated.pid != pid
        with pytest.raises(mcpfleet.MCPFleetError):
            await slow
        names = {t.name for t in fleet.get_tools()}
        assert "uno_echo" in names and "one_echo" not in names and "t2_echo" in names
        await fleet.delete("two")
        assert not any(t.server == "two" for t in fleet.get_tools())
        with pytest.raises(mcpfleet.ServerNotFoundError):
            fleet.get_mcp_server("two")
        with pytest.raises(mcpfleet.ConfigError, match="already exists"):
            await fleet.create(demo("one"))


async def test_management_tools_only_when_enabled():
    async with mcpfleet.Adapter() as fleet:
        assert not [t for t in fleet.get_tools() if t.name.startswith("mcpserver_")]
        with pytest.raises(mcpfleet.ToolNotFoundError):
            await fleet.execute_tool("mcpserver_list", {})
    async with mcpfleet.Adapter(management_tools=True) as fleet:
        names = {t.name for t in fleet.get_tools()}
        assert {"mcpserver_list", "mcpserver_get", "mcpserver_create", "mcpserver_update", "mcpserver_delete", "mcpserver_validate"} <= names
        r = await fleet.execute_tool("mcpserver_create", {"spec": demo("made", autoStart=True, env={"TOKEN": "s3cret-value"})})
        assert not r.is_error, r.text
        assert "s3cret-value" not in r.text
        assert (await fleet.execute_tool("made_echo", {"text": "made by a tool"})).text == "made by a tool"
        r = await fleet.execute_tool("mcpserver_list", {})
        assert r.structured_content["total"] == 1 and r.structured_content["mcpServers"][0]["state"] == "Running"
        r = await fleet.execute_tool("mcpserver_validate", {"spec": {"name": "bad", "type": "stdio"}})
        assert r.structured_content["valid"] is False and "command is required" in r.structured_content["problems"][0]
        r = await fleet.execute_tool("mcpserver_get", {"name": "nope"})
        assert r.is_error and "no MCP server named `nope`" in r.text
        r = await fleet.execute_tool("mcpserver_delete", {"name": "made"})
        assert not r.is_error and fleet.list_mcp_servers() == []


async def test_secrets_stay_out_of_info_and_repr():
    spec = {"name": "remote", "type": "streamable-http", "url": "http://user:pw@127.0.0.1:9/mcp?key=abc", "headers": {"Authorization": "Bearer tok-123"}}
    fleet = mcpfleet.Adapter([spec, demo("local", env={"API_KEY": "k-456"})])
    texts = [repr(fleet), repr(mcpfleet.MCPServer(name="x", env={"A": "k-456"}, headers={"H": "tok-123"}))]
    for info in fleet.list_mcp_servers():
        texts += [repr(info), str(info.definition)]
    joined = "\n".join(texts)
    for secret in ("tok-123", "k-456", "pw@", "abc"):
        assert secret not in joined, joined
    await fleet.close()


async def test_unclosed_adapter_is_collected_with_its_servers():
    fleet = mcpfleet.Adapter([demo("demo", autoStart=True)])
    await fleet.start_auto()
    pid = fleet.get_mcp_server("demo").pid
    del fleet
    gc.collect()
    assert await asyncio.to_thread(wait_gone, pid), "the server outlived its Adapter"


@pytest.mark.parametrize("transport", ["stdio", "streamable-http"])
async def test_tool_list_changes_are_followed(transport):
    """The server says so during a call (over HTTP, on the call's own event stream)."""
    server = None
    if transport == "stdio":
        definition = demo("demo", autoStart=True)
    else:
        port = free_port()
        server = start_server([PY, "-m", "mcpfleet.demo_server", "--http", str(port)], port)
        definition = {"name": "demo", "type": "streamable-http", "url": f"http://127.0.0.1:{port}/mcp", "autoStart": True}
    try:
        await follow_tool_list_changes(definition)
    finally:
        if server:
            stop(server)


async def follow_tool_list_changes(definition: dict) -> None:
    async with mcpfleet.Adapter([definition]) as fleet:
        await wait_state(fleet, "demo", "Running", "Connected")
        await fleet.execute_tool("demo_echo", {"text": "warm"})
        assert "demo_extra" not in {t.name for t in fleet.get_tools()}
        await fleet.execute_tool("demo_toggle_tool", {})
        for _ in range(250):
            if "demo_extra" in {t.name for t in fleet.get_tools()}:
                break
            await asyncio.sleep(0.02)
        assert (await fleet.execute_tool("demo_extra", {})).text == "extra"
        await fleet.execute_tool("demo_toggle_tool", {})
        for _ in range(250):
            if "demo_extra" not in {t.name for t in fleet.get_tools()}:
                break
            await asyncio.sleep(0.02)
        assert "demo_extra" not in {t.name for t in fleet.get_tools()}


def test_validate_reports_every_problem():
    fleet = mcpfleet.Adapter()
    problems = fleet.validate({"name": "x", "type": "stdio", "comand": "uvx", "timeout": 900, "headers": {"A": "b"}})
    text = "\n".join(problems)
    assert "unknown field `comand`; did you mean `command`?" in text
    assert "command is required when type is stdio" in text
    assert "timeout: must be between 1 and 300 seconds, got 900" in text
    assert "headers field is only allowed when type is streamable-http or sse" in text
    assert fleet.validate(demo("ok")) == []
    assert fleet.list_mcp_servers() == []
