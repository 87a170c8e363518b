"""Failures on purpose: missing command, silent server, garbage on stdout, kill -9 mid-call,
grandchildren, close / garbage collection / interpreter exit, hostile remote answers."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import mcpfleet
from conftest import PY, SDK_SERVER, alive, wait_gone

# A stdio server (the built-in one) behind `sh -c` that also leaves a grandchild behind.
WITH_GRANDCHILD = f"sleep 300 & echo grandchild=$! >&2; exec {PY} -m mcpfleet.demo_server"


async def grandchild_pid(client: mcpfleet.StdioClient) -> int:
    for _ in range(250):
        for line in client.get_stderr().splitlines():
            if line.startswith("grandchild="):
                return int(line.split("=")[1])
        await asyncio.sleep(0.02)
    raise AssertionError("the grandchild never reported its pid")


async def test_missing_command_fails_at_once():
    start = time.monotonic()
    with pytest.raises(mcpfleet.ServerStartError, match="command not found") as e:
        await mcpfleet.StdioClient("definitely-not-a-command-8c1f").initialize()
    assert "definitely-not-a-command-8c1f" in str(e.value)
    assert time.monotonic() - start < 2


async def test_missing_cwd_is_named():
    with pytest.raises(mcpfleet.ServerStartError, match="working directory"):
        await mcpfleet.StdioClient("sh", ["-c", "true"], cwd="/no/such/dir").initialize()


async def test_server_that_never_answers_initialize_times_out():
    client = mcpfleet.StdioClient("sleep", ["60"], init_timeout=0.5)
    start = time.monotonic()
    with pytest.raises(mcpfleet.RequestTimeoutError, match="initialize") as e:
        await client.initialize()
    assert 0.4 < time.monotonic() - start < 5
    assert isinstance(e.value, TimeoutError)


async def test_garbage_only_is_reported_in_the_timeout():
    client = mcpfleet.StdioClient("sh", ["-c", "echo 'Server starting on port 8080'; exec sleep 60"], init_timeout=0.5)
    with pytest.raises(mcpfleet.RequestTimeoutError) as e:
        await client.initialize()
    assert "Server starting on port 8080" in str(e.value) and "non-JSON" in str(e.value)


async def test_garbage_before_json_rpc_is_skipped_and_logged(caplog):
    caplog.set_level(logging.WARNING, logger="mcpfleet")
    async with mcpfleet.StdioClient(PY, [SDK_SERVER, "noisy-stdio"]) as client:
        assert (await client.call_tool("add", {"a": 1, "b": 2})).text == "3"
    for _ in range(100):
        if any("not JSON-RPC" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.02)
    messages = [r.getMessage() for r in caplog.records if r.name == "mcpfleet"]
    assert any("Server starting" in m or "not JSON-RPC" in m for m in messages), messages


async def test_exit_during_initialize_reports_status_and_stderr():
    client = mcpfleet.StdioClient("sh", ["-c", "echo 'fatal: missing API key' >&2; exit 4"])
    with pytest.raises(mcpfleet.ServerExitedError) as e:
        await client.initialize()
    assert e.value.exit_code == 4
    assert "fatal: missing API key" in e.value.stderr_tail
    assert "exited with status 4" in str(e.value)


async def test_kill_9_mid_call_fails_every_pending_call_at_once(tmp_path):
    async with mcpfleet.StdioClient(PY, [SDK_SERVER, "stdio"], name="victim") as client:
        server_pid = (await client.call_tool("pid")).structured_content["result"]
        assert server_pid == client.pid
        calls = [
            asyncio.create_task(client.call_tool("slow", {"seconds": 60, "marker": str(tmp_path / f"m{i}")}, timeout=60))
            for i in range(3)
        ]
        await asyncio.sleep(0.5)
        start = time.monotonic()
        os.kill(server_pid, signal.SIGKILL)
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert time.monotonic() - start < 3, "pending calls waited for their timeout"
        for r in results:
            assert isinstance(r, mcpfleet.ServerExitedError), r
            assert r.exit_code == -signal.SIGKILL
            assert "SIGKILL" in str(r)
        with pytest.raises(mcpfleet.ServerExitedError):
            await client.ping()


async def test_stderr_goes_to_the_logger(caplog):
    caplog.set_level(logging.INFO, logger="mcpfleet.stderr")
    async with mcpfleet.StdioClient(PY, ["-m", "mcpfleet.demo_server"], name="chatty") as client:
        await client.call_tool("stderr", {"text": "look at me"})
        for _ in range(200):
            if any("look at me" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    matching = [r for r in caplog.records if "look at me" in r.getMessage()]
    assert matching and matching[0].name == "mcpfleet.stderr" and "[chatty]" in matching[0].getMessage()


async def test_close_ends_grandchildren():
    client = mcpfleet.StdioClient("sh", ["-c", WITH_GRANDCHILD])
    await client.initialize()
    grandchild, server = await grandchild_pid(client), client.pid
    assert alive(grandchild) and alive(server)
    await client.close()
    assert wait_gone(server, 1) and wait_gone(grandchild, 1)


async def test_dropping_an_unclosed_client_ends_its_process_group():
    client = mcpfleet.StdioClient("sh", ["-c", WITH_GRANDCHILD])
    await client.initialize()
    grandchild, server = await grandchild_pid(client), client.pid
    del client
    gc.collect()
    for _ in range(300):
        if not alive(server) and not alive(grandchild):
            break
        await asyncio.sleep(0.02)
    assert not alive(server) and not alive(grandchild)


def test_interpreter_exit_ends_servers_that_were_never_closed(tmp_path):
    script = tmp_path / "leaky.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio, mcpfleet
            async def main():
                c = mcpfleet.StdioClient("sh", ["-c", {WITH_GRANDCHILD!r}])
                await c.initialize()
                for _ in range(250):
                    lines = [l for l in c.get_stderr().splitlines() if l.startswith("grandchild=")]
                    if lines:
                        break
                    await asyncio.sleep(0.02)
                print(c.pid, lines[0].split("=")[1], flush=True)
                global keep
                keep = c   # never closed, still referenced at exit
            asyncio.run(main())
            """
        )
    )
    out = subprocess.run([PY, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    server, grandchild = map(int, out.stdout.split())
    assert wait_gone(server, 5) and wait_gone(grandchild, 5)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/sse-long-endpoint":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b"event: endpoint\ndata: http://127.0.0.2:9/messages?sessionId=" + b"q" * 200_000 + b"\n\n")
            self.wfile.flush()
            time.sleep(2)
        elif self.path == "/js":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer resource_metadata="javascript:alert(1)", realm="file:///etc/passwd"')
            self.end_headers()
        elif self.path == "/sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            # An endpoint on another origin: a client that followed it would leak credentials.
            self.wfile.write(b"event: endpoint\ndata: http://127.0.0.2:9/messages?sessionId=x\n\n")
            self.wfile.flush()
            time.sleep(2)
        else:
            self.send_response(401)
            self.send_header(
                "WWW-Authenticate",
                'Bearer resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource/sse", scope="read write"',
            )
            self.end_headers()

    def do_POST(self):
        if self.path == "/huge-challenge":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer realm="https://auth.example.com", error_description="' + "z" * 100_000 + '"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Bearer realm="https://auth.example.com", error="invalid_token"')
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def hostile_http():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


async def test_sse_endpoint_on_another_origin_is_refused(hostile_http):
    client = mcpfleet.SSEClient(hostile_http + "/sse", headers={"Authorization": "Bearer s3cret-token"})
    with pytest.raises(mcpfleet.ProtocolError, match="origin") as e:
        await client.initialize()
    assert "s3cret" not in str(e.value)


async def test_401_raises_auth_required_with_the_challenge(hostile_http):
    with pytest.raises(mcpfleet.AuthRequiredError) as e:
        await mcpfleet.SSEClient(hostile_http + "/protected").initialize()
    err = e.value
    assert err.status == 401 and err.scope == "read write"
    assert err.resource_metadata_url == "http://127.0.0.1/.well-known/oauth-protected-resource/sse"
    assert err.has_valid_challenge()

    with pytest.raises(mcpfleet.AuthRequiredError) as e:
        await mcpfleet.StreamableHTTPClient(hostile_http + "/mcp", headers={"Authorization": "Bearer s3cret-token"}).initialize()
    assert e.value.issuer == "https://auth.example.com" and e.value.error == "invalid_token"
    assert "s3cret" not in str(e.value) and "s3cret" not in repr(e.value)


async def test_connection_refused_is_a_start_error():
    from conftest import free_port

    with pytest.raises(mcpfleet.ServerStartError, match="refused"):
        await mcpfleet.StreamableHTTPClient(f"http://127.0.0.1:{free_port()}/mcp", init_timeout=5).initialize()


async def test_lists_of_features_a_server_lacks_are_empty():
    """A server that declares only tools (and answers anything else "method not found")."""
    from conftest import FIXTURES

    async with mcpfleet.StdioClient(PY, [str(FIXTURES / "hostile_server.py")]) as client:
        assert await client.list_resources() == []
        assert await client.list_prompts() == []
        assert "ok" in {t.name for t in await client.list_tools()}
        with pytest.raises(mcpfleet.ServerError, match="no such method"):
            await client.read_resource("file:///etc/hostname")
