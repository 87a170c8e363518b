"""The `mcpfleet` command: `validate` (exit codes, positions, JSON, no asyncio) and `serve` over
stdio (launched by the official SDK client, as a desktop client would) and HTTP (with a token
file), stopped by signals with nothing left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time

from mcp import Client, StdioServerParameters

from conftest import PY, free_port, wait_for_port, wait_gone
from test_hardening import processes

CLI = [PY, "-m", "mcpfleet"]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def config(tmp_path, text: str, name: str = "fleet.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


GOOD = f"""
# the team's fleet
name: demo
command: {PY}
args: [-m, mcpfleet.demo_server]
autoStart: true
description: the built-in server
---
name: second
command: {PY}
args: [-m, mcpfleet.demo_server]
toolPrefix: two
autoStart: true
"""


def test_validate_reports_every_problem_with_its_place(tmp_path):
    good = config(tmp_path, GOOD)
    out = run("validate", str(good))
    assert (out.returncode, out.stdout.strip()) == (0, "All checks passed! (2 servers)"), out
    bad = config(tmp_path, "name: a\ncommand: 7\n---\nname: b\ntype: stdio\npingInterval: 1e-7\n", "bad.yaml")
    out = run("validate", str(good), str(bad))
    assert out.returncode == 1, out
    lines = out.stdout.splitlines()
    assert lines[-1] == "Found 3 problems."
    assert f"{bad}:2:10: server `a`: command: expected a string, found an integer" in lines
    assert any(line.startswith(f"{bad}:6:15: server `b`: pingInterval:") for line in lines), lines
    out = run("validate", "-o", "json", str(bad))
    report = json.loads(out.stdout)
    assert out.returncode == 1 and not report["valid"] and len(report["problems"]) == 3
    assert {"file", "line", "column", "server", "field", "message", "severity"} <= set(report["problems"][0])
    # The same server in two files is a problem too.
    out = run("validate", str(good), str(good))
    assert out.returncode == 1 and "defined twice" in out.stdout
    assert run("validate").returncode == 2
    assert run("validate", "/dev/zero").returncode == 1


def test_validate_and_help_start_fast_without_asyncio(tmp_path):
    good = config(tmp_path, GOOD)
    for args in (["--help"], ["--version"], ["validate", str(good)]):
        out = subprocess.run([PY, "-X", "importtime", "-m", "mcpfleet", *args], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr[-2000:]
        imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
        assert "asyncio" not in imported, args
    assert run("--version").stdout.startswith("mcpfleet ")


async def test_serve_stdio_for_a_desktop_client(tmp_path):
    cfg = config(tmp_path, GOOD)
    params = StdioServerParameters(command=PY, args=["-m", "mcpfleet", "serve", str(cfg)], env={**os.environ})
    async with Client(params) as client:
        deadline = time.monotonic() + 30
        names: set[str] = set()
        while not {"demo_echo", "two_echo"} <= names and time.monotonic() < deadline:
            names = {t.name for t in (await client.list_tools()).tools}
        assert {"demo_echo", "two_echo"} <= names, names
        result = await client.call_tool("two_echo", {"text": "über die Flotte"})
        assert result.content[0].text == "über die Flotte"


def test_serve_http_with_a_token_file_and_signals(tmp_path):
    import asyncio

    cfg = config(tmp_path, GOOD)
    token_file = tmp_path / "token"
    token_file.write_text("cli-token-93a7\n")
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", str(cfg), "--http", str(port), "--auth-token-file", str(token_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for_port(port, proc)

        async def use() -> set[str]:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            transport = streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=httpx2.AsyncClient(headers={"Authorization": "Bearer cli-token-93a7"}))
            async with Client(transport, mode="legacy") as client:
                for _ in range(100):
                    names = {t.name for t in (await client.list_tools()).tools}
                    if {"demo_echo", "two_echo"} <= names:
                        return names
                    await asyncio.sleep(0.1)
                return names

        assert {"demo_echo", "two_echo"} <= asyncio.run(use())
        servers = [pid for pid, (ppid, _) in processes().items() if ppid == proc.pid]
        assert servers
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        for pid in servers:
            assert wait_gone(pid, 10), f"server {pid} outlived `mcpfleet serve`"
        assert "cli-token-93a7" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_serve_refuses_bad_configs_and_open_addresses(tmp_path):
    bad = config(tmp_path, "name: a\ncommand: 7\n", "bad.yaml")
    out = run("serve", str(bad))
    assert out.returncode == 1 and f"{bad}:2:10" in out.stderr and out.stdout == ""
    good = config(tmp_path, GOOD)
    out = run("serve", str(good), "--http", "0.0.0.0:0")
    assert out.returncode == 2 and "without an auth token" in out.stderr, out.stderr
    out = run("serve", str(good), "--http", "eighty")
    assert out.returncode == 2 and "[HOST:]PORT" in out.stderr
