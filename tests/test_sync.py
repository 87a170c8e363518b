"""`mcpfleet.sync`: the blocking API, from plain functions, threads, a running event loop and
under Ctrl-C, against real servers."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import textwrap
import threading
import time

import pytest

import mcpfleet
from mcpfleet import sync
from conftest import PY, headless_authorize

DEMO = [PY, "-m", "mcpfleet.demo_server"]


def test_a_plain_script_needs_no_event_loop():
    with sync.StdioClient(DEMO[0], DEMO[1:]) as client:
        assert asyncio._get_running_loop() is None
        assert client.server_info.name and client.is_connected and client.transport == "stdio"
        assert {"echo", "add", "sleep"} <= {t.name for t in client.list_tools()}
        assert client.call_tool("echo", {"text": "plain ✓"}).text == "plain ✓"
        assert client.call_tool("add", {"a": 2, "b": 3}).structured_content == {"result": 5}
        assert client.read_resource("demo://greeting").text.startswith("Hello")
        assert "Ada" in client.get_prompt("greet", {"name": "Ada"}).messages[0].content.text
        client.ping()
        with pytest.raises(mcpfleet.ServerError):
            client.call_tool("no_such_tool", {})
    assert not client.is_connected


def test_many_threads_share_one_client_and_one_fleet():
    with sync.StdioClient(DEMO[0], DEMO[1:]) as client, sync.Adapter([{"name": "d", "command": PY, "args": DEMO[1:], "autoStart": True}]) as fleet:
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                for i in range(40):
                    assert client.call_tool("add", {"a": n, "b": i}).structured_content == {"result": n + i}
                    assert fleet.execute_tool("d_echo", {"text": f"{n}-{i}"}).text == f"{n}-{i}"
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors[:3]
        assert [s.state for s in fleet.list_mcp_servers()] == ["Running"]
    assert fleet.list_mcp_servers()[0].state in ("Stopped", "Disconnected")


def test_timeouts_bound_every_call_and_tell_the_server():
    with sync.StdioClient(DEMO[0], DEMO[1:]) as client:
        t0 = time.monotonic()
        with pytest.raises(mcpfleet.RequestTimeoutError):
            client.call_tool("sleep", {"seconds": 30}, timeout=0.3)
        assert time.monotonic() - t0 < 5
        for _ in range(100):
            if "sleep cancelled" in client.get_stderr():
                break
            time.sleep(0.05)
        assert "sleep cancelled" in client.get_stderr()


def test_ctrl_c_cancels_the_call_in_flight(tmp_path):
    script = tmp_path / "interrupt_me.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        from mcpfleet import sync
        with sync.StdioClient({PY!r}, ["-m", "mcpfleet.demo_server"]) as client:
            print("calling", flush=True)
            try:
                client.call_tool("sleep", {{"seconds": 60}})
            except KeyboardInterrupt:
                for _ in range(100):
                    if "sleep cancelled" in client.get_stderr():
                        break
                    time.sleep(0.05)
                print("interrupted;", "server told" if "sleep cancelled" in client.get_stderr() else "server NOT told", flush=True)
    """))
    proc = subprocess.Popen([PY, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "calling"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert "interrupted; server told" in out, (out, err)
    assert proc.returncode == 0, err


async def test_inside_a_running_loop_it_works_without_deadlock():
    """A notebook cell: the loop is running, the blocking call does not need it."""
    with sync.StdioClient(DEMO[0], DEMO[1:]) as client:
        assert client.call_tool("echo", {"text": "from a cell"}).text == "from a cell"


def test_a_pending_call_of_the_sync_api_cannot_be_awaited():
    with sync.StdioClient(DEMO[0], DEMO[1:]) as client:
        pending = mcpfleet._core._call_blocking(lambda: client._async.call_tool("echo", {"text": "x"}))
        assert pending.text == "x"  # waited for: the value, not an awaitable


@pytest.mark.parametrize("in_loop", [False, True])
def test_token_providers_run_on_their_own_thread(protected_http, in_loop):
    seen = []

    def provider() -> str:
        seen.append(threading.current_thread().name)
        return "valid-sync"

    async def async_provider() -> str:
        await asyncio.sleep(0.01)
        return "valid-async"

    def run() -> None:
        with sync.DynamicAuthClient(protected_http, provider) as client:
            assert client.call_tool("token", {}).text == "valid-sync"
        with sync.StreamableHTTPClient(protected_http, token_provider=async_provider) as client:
            assert client.call_tool("token", {}).text == "valid-async"

    if in_loop:
        async def cell() -> None:
            run()  # blocking inside the loop: the providers must not need this loop

        asyncio.run(asyncio.wait_for(cell(), 30))
    else:
        run()
    assert seen and set(seen) == {"mcpfleet-callbacks"}


def test_fleet_from_a_config_file(tmp_path):
    config = tmp_path / "fleet.yaml"
    config.write_text(textwrap.dedent(f"""
        # two servers, one started later
        name: démo
        command: {PY}
        args: [-m, mcpfleet.demo_server]
        autoStart: true
        ---
        name: later   # not autoStart
        command: {PY}
        args: ["-m", "mcpfleet.demo_server"]
    """))
    with sync.Adapter.from_config(config) as fleet:
        states = {s.name: s.state for s in fleet.list_mcp_servers()}
        assert states == {"démo": "Running", "later": "Stopped"}
        prefix = fleet.get_mcp_server("démo").tool_prefix
        assert fleet.execute_tool(f"{prefix}_add", {"a": 1, "b": 1}).structured_content == {"result": 2}
        fleet.start("later")
        assert fleet.execute_tool("later_echo", {"text": "up"}).text == "up"
        fleet.delete("later")
        assert "<table" in fleet._repr_html_()


def test_oauth_login_callback_and_token_store_work_blocking(oauth_peer_factory):
    """The authorize callback and a Python token store (async load/save) are called from the
    Rust side during blocking calls: they run on the mcpfleet-callbacks thread."""
    peer = oauth_peer_factory()
    threads: list[str] = []

    class Store:
        def __init__(self) -> None:
            self.record = None

        async def load(self):
            threads.append(threading.current_thread().name)
            return self.record

        async def save(self, record) -> None:
            threads.append(threading.current_thread().name)
            self.record = record

        def clear(self) -> None:
            self.record = None

    def authorize(url: str) -> str:
        threads.append(threading.current_thread().name)
        return headless_authorize(url)

    store = Store()
    with sync.StreamableHTTPClient(peer.url, auth=mcpfleet.OAuth(authorize=authorize, store=store)) as client:
        first = client.call_tool("token", {}).text
    assert first.startswith("at-") and store.record["token_response"]["access_token"] == first

    def no_login(url: str) -> str:
        raise AssertionError("the stored token should have been used")

    with sync.StreamableHTTPClient(peer.url, auth=mcpfleet.OAuth(authorize=no_login, store=store)) as client:
        assert client.call_tool("token", {}).text == first
    assert peer.stats()["authorization_code"] == 1
    assert threads and set(threads) == {"mcpfleet-callbacks"}, threads


def test_the_fleet_served_and_watched_from_a_plain_script():
    from mcp import Client

    seen: list[tuple[str, str, str]] = []
    ended = threading.Event()
    fleet = sync.Adapter([{"name": "dëmo", "command": PY, "args": DEMO[1:], "toolPrefix": "d"}])
    fleet.on_status(lambda u: seen.append((threading.current_thread().name, u.name, u.state)))
    stream = fleet.status_updates()

    def follow() -> None:
        for _ in stream:
            pass
        ended.set()

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    fleet.start("dëmo")
    with fleet.serve_http() as front:
        assert front.url.startswith("http://127.0.0.1:")
        with sync.StreamableHTTPClient(front.url) as client:
            assert client.call_tool("d_echo", {"text": "served ✓"}).text == "served ✓"

        async def with_the_sdk() -> str:
            async with Client(front.url) as c:
                result = await c.call_tool("d_add", {"a": 40, "b": 2})
                return result.content[0].text

        assert asyncio.run(with_the_sdk()) == "42"
    with pytest.raises(mcpfleet.MCPFleetError):
        with sync.StreamableHTTPClient(front.url, init_timeout=2) as client:
            pass
    fleet.close()
    assert ended.wait(10), "status_updates() did not end when the fleet closed"
    deadline = time.monotonic() + 10
    while not any(state == "Running" for _, _, state in seen) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ("mcpfleet-callbacks", "dëmo", "Running") in seen, seen


def test_serve_stdio_from_a_plain_script():
    script = textwrap.dedent(f"""
        from mcpfleet import sync
        fleet = sync.Adapter([{{"name": "demo", "command": {PY!r}, "args": ["-m", "mcpfleet.demo_server"], "autoStart": True}}])
        with fleet:
            fleet.serve_stdio()
    """)
    with sync.StdioClient(PY, ["-c", script]) as client:
        assert "demo_echo" in {t.name for t in client.list_tools()}
        assert client.call_tool("demo_echo", {"text": "over stdio"}).text == "over stdio"
