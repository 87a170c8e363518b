"""`mcpfleet serve` reached by FastMCP's client (a second, independent implementation), over
stdio as a subprocess and over HTTP, with a fleet of the built-in server, an SDK server and
server-everything; backends killed, updated, added and deleted while the client watches."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import textwrap

from fastmcp import Client
from fastmcp.client.messages import MessageHandler
from fastmcp.client.transports import StdioTransport

from conftest import EVERYTHING, PY, SDK_SERVER, free_port, missing, node, wait_for_port


def fleet_config(tmp_path) -> str:
    if not EVERYTHING.exists():
        missing("npm install has not been run (server-everything missing)")
    path = tmp_path / "fleet.yaml"
    path.write_text(textwrap.dedent(f"""
        # three kinds of backend
        name: demo
        command: {PY}
        args: [-m, mcpfleet.demo_server]
        autoStart: true
        restart: {{initialDelay: 0.1}}
        ---
        name: py
        command: {PY}
        args: [{SDK_SERVER}]
        toolPrefix: sdk
        autoStart: true
        ---
        name: everything
        command: {node()}
        args: [{EVERYTHING}, stdio]
        toolPrefix: ev
        autoStart: true
        initTimeout: 30
    """))
    return str(path)


def text(result) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


async def wait_tools(client, present: set[str] = frozenset(), absent: set[str] = frozenset(), timeout: float = 30) -> set[str]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        names = {t.name for t in await client.list_tools()}
        if present <= names and not (absent & names):
            return names
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"tools {names} never had {present} without {absent}")
        await asyncio.sleep(0.1)


class Changes(MessageHandler):
    def __init__(self) -> None:
        self.tools = asyncio.Event()

    async def on_tool_list_changed(self, message) -> None:
        self.tools.set()

    async def next(self, timeout: float = 15) -> None:
        await asyncio.wait_for(self.tools.wait(), timeout)
        self.tools.clear()


async def test_fastmcp_client_over_http_sees_the_fleet_change(tmp_path):
    cfg = fleet_config(tmp_path)
    port = free_port()
    proc = subprocess.Popen([PY, "-m", "mcpfleet", "serve", cfg, "--http", str(port), "--management-tools"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for_port(port, proc)
        changes = Changes()
        async with Client(f"http://127.0.0.1:{port}/mcp", mode="legacy", message_handler=changes) as client:
            await wait_tools(client, {"demo_echo", "sdk_add", "ev_echo", "mcpserver_list"})
            assert text(await client.call_tool("demo_echo", {"text": "fastmcp"})) == "fastmcp"
            assert text(await client.call_tool("sdk_add", {"a": 2, "b": 3})) == "5"
            assert "Echo: hi" in text(await client.call_tool("ev_echo", {"message": "hi"}))
            read = await client.read_resource("test://greeting")
            assert read[0].text
            prompt = await client.get_prompt("sdk_hello", {"name": "Grace"})
            assert "Grace" in prompt.messages[0].content.text

            # A backend killed: its tools leave, then come back after the restart.
            info = (await client.call_tool("mcpserver_get", {"name": "demo"})).structured_content
            changes.tools.clear()
            os.kill(info["pid"], signal.SIGKILL)
            await changes.next()
            await wait_tools(client, {"demo_echo"})
            # Updated (new prefix), added, deleted: each announced.
            spec = {"name": "demo", "command": PY, "args": ["-m", "mcpfleet.demo_server"], "toolPrefix": "neu", "autoStart": True}
            await client.call_tool("mcpserver_update", {"name": "demo", "spec": spec})
            await changes.next()
            await wait_tools(client, {"neu_echo"}, {"demo_echo"})
            late = {"name": "late", "command": PY, "args": ["-m", "mcpfleet.demo_server"], "autoStart": True}
            await client.call_tool("mcpserver_create", {"spec": late})
            await changes.next()
            await wait_tools(client, {"late_echo"})
            await client.call_tool("mcpserver_delete", {"name": "late"})
            await changes.next()
            await wait_tools(client, absent={"late_echo"})
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


async def test_fastmcp_client_over_stdio(tmp_path):
    cfg = fleet_config(tmp_path)
    transport = StdioTransport(command=PY, args=["-m", "mcpfleet", "serve", cfg], env=dict(os.environ))
    async with Client(transport) as client:
        names = await wait_tools(client, {"demo_add", "sdk_echo", "ev_get-sum"})
        assert not any(n.startswith("mcpserver_") for n in names)
        assert text(await client.call_tool("demo_add", {"a": 20, "b": 22})) == "42"
        assert text(await client.call_tool("sdk_echo", {"text": "über stdio"})) == "über stdio"
        templates = await client.list_resource_templates()
        assert templates
