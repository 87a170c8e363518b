"""What a careless user and a hostile input used to break: untidy configs, alias bombs, devices
and FIFOs, variables in every field, absurd timings, secrets in every output channel, servers
that outlive a SIGKILLed owner, restarts at shutdown, hopeless restarts, unreadable replies."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import signal
import subprocess
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import mcpfleet
from conftest import FIXTURES, PY, free_port, wait_gone
from test_failures import hostile_http  # noqa: F401 (a fixture)
from test_fleet import wait_state

HOSTILE = str(FIXTURES / "hostile_server.py")
MUSTER = "muster.giantswarm.io/v1alpha1"


def demo(name: str, **extra) -> dict:
    return {"name": name, "type": "stdio", "command": PY, "args": ["-m", "mcpfleet.demo_server"], **extra}


# --- config loading -------------------------------------------------------------------------


def test_untidy_yaml_loads(tmp_path):
    text = (
        "\ufeff# fleet.yaml — maintained by ops\r\n"
        "#\ttabs in a comment\r\n"
        "---\r\n"
        "\r\n"
        "# an empty document\r\n"
        "---\r\n"
        f"apiVersion: {MUSTER}   # trailing comment\r\n"
        "kind: MCPServer\r\n"
        "metadata:\r\n"
        "    name:   wetter-ü\r\n"
        "spec:\r\n"
        "    type: stdio\r\n"
        f"    command: '{PY}'\r\n"
        "    args: [ '-m',   mcpfleet.demo_server ]   \r\n"
        "---\r\n"
    )
    cfg = tmp_path / "fleet.yaml"
    cfg.write_bytes(text.encode())
    fleet = mcpfleet.Adapter.from_config(cfg)
    assert [s.name for s in fleet.list_mcp_servers()] == ["wetter-ü"]
    assert fleet.get_mcp_server("wetter-ü").tool_prefix == "wetter-_"


def test_alias_bomb_is_a_config_error(tmp_path):
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, cur in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]")
    cfg = tmp_path / "bomb.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    assert cfg.stat().st_size < 400
    # In a child under a 1 GiB address-space limit: before the fix this aborted the interpreter.
    script = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        import mcpfleet
        try:
            mcpfleet.Adapter.from_config({str(cfg)!r})
        except mcpfleet.ConfigError as e:
            print(e.line, e)
            sys.exit(0)
        sys.exit(5)
    """)
    out = subprocess.run([PY, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "more than 100000 values" in out.stdout and "bomb.yaml:" in out.stdout, out.stdout
    assert int(out.stdout.split()[0]) >= 2


def test_devices_fifos_and_huge_files_are_refused_at_once(tmp_path):
    for path, expected in [("/dev/zero", "not a regular file (it is a character device)"), (str(tmp_path), "mcpservers/")]:
        with pytest.raises(mcpfleet.ConfigError) as e:
            mcpfleet.Adapter.from_config(path)
        assert expected in str(e.value), str(e.value)
    fifo = tmp_path / "fleet.yaml"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    with pytest.raises(mcpfleet.ConfigError, match="it is a FIFO"):
        mcpfleet.Adapter.from_config(fifo)
    assert time.monotonic() - t0 < 5
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.write(b"# padding\n" * (11 * 1024 * 1024 // 10))
    with pytest.raises(mcpfleet.ConfigError, match=r"too large \(11534\d+ bytes; the limit is 10485760 bytes\)"):
        mcpfleet.Adapter.from_config(big)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"# config\nname: caf\xe9\ncommand: x\n")
    with pytest.raises(mcpfleet.ConfigError) as e:
        mcpfleet.Adapter.from_config(bad)
    assert (e.value.line, e.value.column) == (2, 10), str(e.value)
    assert "invalid byte 0xe9" in str(e.value)


async def test_variables_expand_in_url_port_and_command(tmp_path, demo_http, monkeypatch):
    port = demo_http.split(":")[2].split("/")[0]
    monkeypatch.setenv("MCPFLEET_T_PORT", port)
    monkeypatch.setenv("MCPFLEET_T_PY", PY)
    cfg = tmp_path / "vars.yaml"
    cfg.write_text(textwrap.dedent("""
        # ports and interpreters differ per machine
        name: web
        type: streamable-http
        url: http://127.0.0.1:${MCPFLEET_T_PORT}/mcp
        autoStart: true
        ---
        name: local
        command: ${MCPFLEET_T_PY}
        args: [-m, mcpfleet.demo_server]
        cwd: ${MCPFLEET_T_NO_SUCH_DIR:-/}
        autoStart: true
    """))
    async with mcpfleet.Adapter.from_config(cfg) as fleet:
        assert (await fleet.execute_tool("web_echo", {"text": "port"})).text == "port"
        assert (await fleet.execute_tool("local_echo", {"text": "cmd"})).text == "cmd"
    monkeypatch.delenv("MCPFLEET_T_PY")
    with pytest.raises(mcpfleet.ConfigError) as e:
        mcpfleet.Adapter.from_config(cfg)
    assert "vars.yaml:9:10: server `local`: command: environment variable `MCPFLEET_T_PY` is not set" in str(e.value)


def test_messages_name_the_server(tmp_path):
    cfg = tmp_path / "muster.yaml"
    cfg.write_text(f"apiVersion: {MUSTER}\nkind: MCPServer\nmetadata:\n  name: kubernetes\nspec:\n  type: stdio\n  command: 7\n")
    with pytest.raises(mcpfleet.ConfigError) as e:
        mcpfleet.Adapter.from_config(cfg)
    assert str(e.value).endswith("muster.yaml:7:12: server `kubernetes`: spec.command: expected a string, found an integer")
    assert e.value.problems[0]["server"] == "kubernetes"


async def test_absurd_timings_are_refused_everywhere():
    for bad, field in [({"pingInterval": 1e-7}, "pingInterval"), ({"restart": {"initialDelay": 1e-9}}, "restart.initialDelay"),
                       ({"restart": {"maxRestarts": 1_000_000}}, "restart.maxRestarts"), ({"timeout": 1e300}, "timeout")]:
        problems = mcpfleet.Adapter().validate(demo("x", **bad))
        assert any(field in p for p in problems), (bad, problems)
    async with mcpfleet.Adapter(management_tools=True) as fleet:
        r = await fleet.execute_tool("mcpserver_create", {"spec": demo("storm", restart={"initialDelay": 1e-9, "maxRestarts": 1_000_000})})
        assert r.is_error and "restart.initialDelay" in r.text and "restart.maxRestarts" in r.text
        assert fleet.list_mcp_servers() == []


# --- secrets --------------------------------------------------------------------------------

SECRET = "canary-Zq8vT3xPw"


async def test_no_secret_reaches_any_output_channel(caplog, hostile_http):
    """One unique secret in a URL password, a URL query value, a header, an env value and a token, pushed
    through failing connections; then every output channel is searched for it."""
    caplog.set_level(logging.DEBUG, logger="mcpfleet")
    mcpfleet._core._set_log_level(10)
    port = free_port()  # nothing listens there
    urls = [f"http://user:{SECRET}@127.0.0.1:{port}/mcp", f"http://127.0.0.1:{port}/mcp?token={SECRET}&x=1"]
    seen: list[str] = []
    try:
        for url in urls:
            for cls in (mcpfleet.StreamableHTTPClient, mcpfleet.SSEClient):
                c = cls(url, headers={"X-Api-Key": SECRET}, init_timeout=5)
                seen.append(repr(c))
                with pytest.raises(mcpfleet.MCPFleetError) as e:
                    await c.initialize()
                seen += [str(e.value), repr(e.value), *map(str, vars(e.value).values())]
        # a token from a provider, refused by the server (401) and by the network
        for url in (hostile_http + "/mcp", f"http://127.0.0.1:{port}/mcp"):
            c = mcpfleet.StreamableHTTPClient(url, token_provider=lambda: SECRET, init_timeout=5)
            seen.append(repr(c))
            with pytest.raises(mcpfleet.MCPFleetError) as e:
                await c.initialize()
            seen += [str(e.value), repr(e.value), *map(str, vars(e.value).values())]
        with pytest.raises(mcpfleet.ConfigError) as e:
            mcpfleet.StreamableHTTPClient(f"ftp://u:{SECRET}@h/?k={SECRET}")
        seen.append(str(e.value))
        seen.append(repr(mcpfleet.MCPServer(name="m", type="streamable-http", url=urls[1], headers={"A": SECRET})))
        seen += mcpfleet.Adapter().validate({"name": "v", "url": f"ftp://h/?k={SECRET}"})
        servers = [
            {"name": "pw", "url": urls[0], "autoStart": True, "headers": {"Authorization": f"Bearer {SECRET}"}, "restart": {"maxRestarts": 1, "initialDelay": 0.05}},
            {"name": "query", "type": "sse", "url": urls[1].replace("/mcp", "/sse"), "autoStart": True, "restart": {"enabled": False}},
            {"name": "env", "command": "sh", "args": ["-c", "echo $TOKEN >&2; echo \"failed with $TOKEN\" >&2; exit 1"], "env": {"TOKEN": SECRET}, "autoStart": True, "restart": {"enabled": False}},
        ]
        updates: list = []
        async with mcpfleet.Adapter(servers, management_tools=True) as fleet:
            fleet.on_status(updates.append)
            for name in ("pw", "query", "env"):
                info = await wait_state(fleet, name, "CrashLoop", "Failed")
                seen += [repr(info), str(info.last_error), str(info.definition)]
            for tool in ("mcpserver_list", "mcpserver_get"):
                seen.append((await fleet.execute_tool(tool, {"name": "pw"})).text)
            with pytest.raises(mcpfleet.MCPFleetError) as e:
                await fleet.start("pw")
            seen.append(str(e.value))
            await asyncio.sleep(0.2)
        seen += [f"{u.name} {u.state} {u.error}" for u in updates]
        await asyncio.sleep(0.3)  # the log forwarder thread
        seen += [r.getMessage() for r in caplog.records]
    finally:
        mcpfleet._core._set_log_level(30)
    leaks = [s for s in seen if SECRET in s]
    assert not leaks, leaks[:3]
    assert len(seen) > 30 and any("***" in s for s in seen)


async def test_peer_text_is_capped(hostile_http):
    with pytest.raises(mcpfleet.AuthRequiredError) as e:
        await mcpfleet.StreamableHTTPClient(hostile_http + "/huge-challenge").initialize()
    assert len(str(e.value)) < 2_000 and len(e.value.www_authenticate) < 5_000, (len(str(e.value)), len(e.value.www_authenticate))
    assert "more bytes)" in str(e.value)
    with pytest.raises(mcpfleet.ProtocolError) as e:
        await mcpfleet.SSEClient(hostile_http + "/sse-long-endpoint").initialize()
    assert len(str(e.value)) < 2_000, len(str(e.value))


# --- processes ------------------------------------------------------------------------------

OWNER = """
import asyncio, sys, mcpfleet
# ignores stdin EOF and SIGTERM, and starts a grandchild through sh
STUBBORN = "trap '' TERM; sleep 300 & echo $! >&2; while true; do sleep 1; done"
async def main():
    if sys.argv[1] == "client":
        c = mcpfleet.StdioClient("sh", ["-c", STUBBORN], init_timeout=60)
        asyncio.get_running_loop().create_task(c.initialize())
    else:
        fleet = mcpfleet.Adapter([{"name": "s", "command": "sh", "args": ["-c", STUBBORN], "initTimeout": 60}])
        asyncio.get_running_loop().create_task(fleet.start("s"))
    await asyncio.sleep(1)
    print(mcpfleet._core._watchdog_pid(), flush=True)
    await asyncio.sleep(600)
asyncio.run(main())
"""


def processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of every live process, from /proc."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] not in ("Z", "X"):
                out[int(entry)] = (int(fields[1]), int(fields[2]))
    return out


@pytest.mark.parametrize("owner", ["client", "adapter"])
def test_servers_die_with_a_sigkilled_owner(owner):
    proc = subprocess.Popen([PY, "-c", OWNER, owner], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        watchdog = int(proc.stdout.readline())
        children = [pid for pid, (ppid, _) in processes().items() if ppid == proc.pid]
        servers = [c for c in children if c != watchdog]
        assert servers, children
        group = os.getpgid(servers[0])
        members = [pid for pid, (_, pgrp) in processes().items() if pgrp == group]
        assert len(members) >= 2, members  # sh and its `sleep 300`
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        for pid in members:
            assert wait_gone(pid, 10), f"{pid} outlived its SIGKILLed owner"
        assert wait_gone(watchdog, 10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_interpreter_exit_starts_nothing(tmp_path):
    log = tmp_path / "starts.log"
    script = textwrap.dedent(f"""
        import asyncio, mcpfleet
        async def main():
            fleet = mcpfleet.Adapter([{{"name": "d", "command": "sh", "args": ["-c", "echo start >> {log}; exec {PY} -m mcpfleet.demo_server"],
                                       "autoStart": True, "restart": {{"initialDelay": 0.05}}}}])
            await fleet.start_auto()
            global keep
            keep = fleet
        asyncio.run(main())
    """)
    out = subprocess.run([PY, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    time.sleep(1)
    assert log.read_text().count("start") == 1, log.read_text()
    assert "Restarting" not in out.stderr, out.stderr


async def test_hopeless_commands_fail_once_and_errors_clear(tmp_path):
    script = tmp_path / "not-executable.sh"
    script.write_text("echo hi\n")
    servers = [{"name": "missing", "command": "/nonexistent/mcp-server", "restart": {"initialDelay": 0.05}},
               {"name": "noexec", "command": str(script), "restart": {"initialDelay": 0.05}},
               {"name": "nodir", "command": "sh", "cwd": "/nonexistent-dir", "restart": {"initialDelay": 0.05}}]
    async with mcpfleet.Adapter(servers) as fleet:
        for name, reason in [("missing", "command not found"), ("noexec", "permission denied"), ("nodir", "working directory /nonexistent-dir does not exist")]:
            with pytest.raises(mcpfleet.ServerStartError, match=reason):
                await fleet.start(name)
            await asyncio.sleep(0.3)
            info = fleet.get_mcp_server(name)
            assert (info.state, info.restart_count) == ("Failed", 0), info
            assert reason in info.last_error
        # A server that failed once and then came up has no last_error.
        flag = tmp_path / "ok"
        await fleet.create({"name": "flaky", "command": "sh", "args": ["-c", f"if [ -e {flag} ]; then exec {PY} -m mcpfleet.demo_server; fi; touch {flag}; exit 1"],
                            "restart": {"initialDelay": 0.05}})
        with pytest.raises(mcpfleet.ServerExitedError):
            await fleet.start("flaky")
        info = await wait_state(fleet, "flaky", "Running")
        assert info.restart_count == 1 and info.last_error is None


# --- protocol -------------------------------------------------------------------------------


async def test_unreadable_replies_fail_fast_and_the_fleet_restarts_a_broken_stream():
    async with mcpfleet.StdioClient(PY, [HOSTILE]) as c:
        for tool, what in [("bad_utf8", "not valid UTF-8"), ("deep", "nests deeper")]:
            t0 = time.monotonic()
            with pytest.raises(mcpfleet.ProtocolError, match=what):
                await c.call_tool(tool, {}, timeout=30)
            assert time.monotonic() - t0 < 5
        assert (await c.call_tool("ok", {})).text == "fine"
        with pytest.raises(mcpfleet.RequestTimeoutError):
            await c.call_tool("string_id", {}, timeout=0.5)
        t0 = time.monotonic()
        with pytest.raises(mcpfleet.ProtocolError, match="longer than"):
            await c.call_tool("endless", {}, timeout=30)
        with pytest.raises(mcpfleet.ProtocolError):
            await c.call_tool("ok", {}, timeout=30)
        assert time.monotonic() - t0 < 10
    async with mcpfleet.Adapter([{"name": "h", "command": PY, "args": [HOSTILE], "autoStart": True, "restart": {"initialDelay": 0.05}}]) as fleet:
        with pytest.raises(mcpfleet.ProtocolError):
            await fleet.execute_tool("h_huge", {})
        info = await wait_state(fleet, "h", "Running", timeout=20)
        while info.restart_count < 1:
            await asyncio.sleep(0.05)
            info = await wait_state(fleet, "h", "Running", timeout=20)
        assert (await fleet.execute_tool("h_ok", {})).text == "fine"


class _HostileSSE(BaseHTTPRequestHandler):
    """A legacy SSE server whose replies are unreadable (`/sse`) or whose stream sends one
    event that never ends (`/endless`)."""

    events: "queue.Queue[bytes]"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b"event: endpoint\ndata: /messages\n\n")
        self.wfile.flush()
        if self.path == "/endless":
            self.wfile.write(b"data: ")
            for _ in range(20):
                self.wfile.write(b"z" * (1 << 20))
            self.wfile.flush()
            time.sleep(30)
            return
        while True:
            event = self.server.events.get()
            if event is None:
                return
            self.wfile.write(b"event: message\ndata: " + event + b"\n\n")
            self.wfile.flush()

    def do_POST(self):
        msg = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        mid, method = msg.get("id"), msg.get("method")
        if method == "initialize":
            result = {"protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}}, "serverInfo": {"name": "h", "version": "1"}}
            self.server.events.put(json.dumps({"jsonrpc": "2.0", "id": mid, "result": result}).encode())
        elif method == "tools/call":
            deep = b"[" * 300 + b"]" * 300
            self.server.events.put(b'{"jsonrpc":"2.0","id":' + json.dumps(mid).encode() + b',"result":{"content":[],"structuredContent":{"a":' + deep + b"}}}")


@pytest.fixture
def hostile_sse():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileSSE)
    server.events = queue.Queue()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.events.put(None)
    server.shutdown()


async def test_hostile_sse_streams_fail_fast(hostile_sse):
    async with mcpfleet.SSEClient(hostile_sse + "/sse") as c:
        t0 = time.monotonic()
        with pytest.raises(mcpfleet.ProtocolError, match="could not be read"):
            await c.call_tool("x", {}, timeout=30)
        assert time.monotonic() - t0 < 5
    t0 = time.monotonic()
    with pytest.raises(mcpfleet.MCPFleetError):
        await mcpfleet.SSEClient(hostile_sse + "/endless", init_timeout=30).initialize()
    assert time.monotonic() - t0 < 15


async def test_resource_metadata_must_be_http(hostile_http):
    with pytest.raises(mcpfleet.AuthRequiredError) as e:
        await mcpfleet.SSEClient(hostile_http + "/js").initialize()
    assert (e.value.resource_metadata_url, e.value.issuer) == (None, None)
    assert not e.value.has_valid_challenge()


# --- small surprises ------------------------------------------------------------------------


async def test_no_panic_and_no_silent_acceptance():
    for bad in (float("inf"), float("nan"), -1.0, 1e300):
        with pytest.raises(ValueError):
            mcpfleet._core._terminate_all_servers(bad)
    for bad in (float("inf"), 1e300):
        with pytest.raises(ValueError):
            mcpfleet.StdioClient("sh", timeout=bad)
    with pytest.raises(mcpfleet.ConfigError, match='did you mean "streamable-http"'):
        mcpfleet.new_mcp_client_from_type("http", mcpfleet.MCPClientConfig(url="http://127.0.0.1:1/mcp"))
    fleet = mcpfleet.Adapter()
    with pytest.raises(TypeError, match="needs a callable"):
        fleet.on_status("print")
    await fleet.close()


async def test_expected_failures_do_not_log_errors(caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(mcpfleet.ServerStartError):
        await mcpfleet.StreamableHTTPClient(f"http://127.0.0.1:{free_port()}/mcp", init_timeout=5).initialize()
    await asyncio.sleep(0.3)
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("mcpfleet")]
    assert not loud, [r.getMessage() for r in loud]


# --- structured results -----------------------------------------------------------------------


async def test_structured_content_is_held_to_the_tools_output_schema():
    async with mcpfleet.StdioClient(PY, [HOSTILE]) as client:
        # Not listed yet: nothing is known of the schema, nothing is checked.
        assert (await client.call_tool("typed", {"n": "three"})).structured_content == {"n": "three"}
        tools = {t.name: t for t in await client.list_tools()}
        assert tools["typed"].output_schema["required"] == ["n"]
        assert (await client.call_tool("typed", {"n": 3})).structured_content == {"n": 3}
        with pytest.raises(mcpfleet.ProtocolError, match=r'tools/call "typed".*does not match the tool\'s outputSchema: at /n: "three" is not of type "integer"'):
            await client.call_tool("typed", {"n": "three"})
        with pytest.raises(mcpfleet.ProtocolError, match="declares an outputSchema but returned no structuredContent"):
            await client.call_tool("untyped_answer")
        assert (await client.call_tool("ok")).text == "fine"
    async with mcpfleet.Adapter([{"name": "h", "command": PY, "args": [HOSTILE], "autoStart": True}]) as fleet:
        with pytest.raises(mcpfleet.ProtocolError, match="outputSchema"):
            await fleet.execute_tool("h_typed", {"n": [1]})
        assert (await fleet.execute_tool("h_typed", {"n": -7})).structured_content == {"n": -7}
