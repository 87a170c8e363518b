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
    assert json.loads(run("validate", "--json", str(bad)).stdout) == report
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
    # The cluster instead of files: one or the other, and its flags only with it.
    out = run("serve")
    assert out.returncode == 2 and "give a CONFIG file or directory, or --kubernetes" in out.stderr
    out = run("serve", str(good), "--kubernetes")
    assert out.returncode == 2 and "give no CONFIG" in out.stderr
    out = run("serve", str(good), "--namespace", "wetter")
    assert out.returncode == 2 and "go with --kubernetes" in out.stderr
    missing = tmp_path / "nirgends.kubeconfig"
    out = run("serve", "--kubernetes", "--kubeconfig", str(missing), "--http", "0")
    assert out.returncode == 4 and f"kubeconfig {missing}" in out.stderr, out.stderr


def test_serve_watch_applies_edits_and_refuses_broken_ones(tmp_path):
    import asyncio

    cfg = config(tmp_path, GOOD)
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", str(cfg), "--http", str(port), "--watch"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    async def tool_names(expect=None, absent=None, timeout: float = 20) -> set[str]:
        deadline = time.monotonic() + timeout
        while True:
            async with Client(f"http://127.0.0.1:{port}/mcp", mode="legacy") as client:
                names = {t.name for t in (await client.list_tools()).tools}
            if (expect is None or expect <= names) and (absent is None or not (absent & names)) or time.monotonic() > deadline:
                return names
            await asyncio.sleep(0.2)

    try:
        wait_for_port(port, proc)
        assert {"demo_echo", "two_echo"} <= asyncio.run(tool_names({"demo_echo", "two_echo"}))
        # Add a server, change one (its prefix), remove one: all applied.
        cfg.write_text(GOOD.replace("toolPrefix: two", "toolPrefix: zwei").replace("name: demo\n", "name: first\n") + textwrap.dedent(f"""
            ---
            name: third
            command: {PY}
            args: [-m, mcpfleet.demo_server]
            autoStart: true
        """))
        names = asyncio.run(tool_names({"first_echo", "zwei_echo", "third_echo"}, {"demo_echo", "two_echo"}))
        assert {"first_echo", "zwei_echo", "third_echo"} <= names and not {"demo_echo", "two_echo"} & names, names
        # A broken edit: refused with its position, the fleet goes on.
        good_text = cfg.read_text()
        cfg.write_text(good_text + "---\nname: broken\ncommand: [not, one]\n")
        time.sleep(2)
        assert {"first_echo", "zwei_echo", "third_echo"} <= asyncio.run(tool_names())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        err = proc.stderr.read()
        assert "configuration reloaded" in err and "the edit was not applied" in err, err
        assert f"{cfg}:" in err and "command is one executable" in err, err
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_list_tools_and_call_against_a_config_a_url_and_a_command(tmp_path, demo_http):
    cfg = config(tmp_path, GOOD + textwrap.dedent("""
        ---
        name: broken
        command: /nonexistent/mcp-server
        autoStart: true
    """))
    out = run("list", str(cfg))
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()[1:]}
    assert rows["demo"][1:4] == ["stdio", "Running", "6"] and rows["broken"][2] == "Failed", out.stdout
    assert "command not found" in out.stdout
    listed = json.loads(run("list", str(cfg), "--json").stdout)
    assert {r["name"] for r in listed} == {"demo", "second", "broken"}

    tools = json.loads(run("tools", str(cfg), "-o", "json", "--server", "second").stdout)
    assert {t["name"] for t in tools} >= {"two_echo", "two_add"} and all(t["server"] == "second" for t in tools)
    table = run("tools", str(cfg)).stdout.splitlines()
    assert table[0].split() == ["NAME", "SERVER", "DESCRIPTION"] and any(line.startswith("demo_add ") for line in table)

    # key=value typed by the schema: numbers stay numbers, text stays text
    out = run("call", str(cfg), "demo_add", "a=40", "b=2", "-o", "json")
    assert out.returncode == 0 and json.loads(out.stdout)["structuredContent"] == {"result": 42}, out
    out = run("call", str(cfg), "demo_echo", "text=01234")
    assert (out.returncode, out.stdout) == (0, "01234\n"), out
    out = run("call", str(cfg), "demo_fail", "message=on purpose")
    assert out.returncode == 1 and "on purpose" in out.stderr
    out = run("call", str(cfg), "demo_ad", "a=1", "b=2")
    assert out.returncode == 1 and "did you mean `demo_add`" in out.stderr, out.stderr
    out = run("call", str(cfg), "demo_add", "a=one", "b=2")
    assert out.returncode == 2 and "a: expected a number" in out.stderr, out.stderr
    out = run("call", str(cfg), "demo_add", "a=1")
    assert out.returncode == 2 and "missing required arguments: b" in out.stderr
    out = run("call", str(cfg), "demo_add", "--json", '{"a": 1, "b": 1}', "b:=41")
    assert out.stdout.strip() == "42", out

    # the same against one server, by URL or by command
    out = run("call", "--url", demo_http, "add", "a=1", "b=2")
    assert (out.returncode, out.stdout.strip()) == (0, "3"), out
    out = run("tools", "--stdio", f"{PY} -m mcpfleet.demo_server", "-o", "json")
    assert "echo" in {t["name"] for t in json.loads(out.stdout)}
    assert run("list", "--url", f"http://127.0.0.1:{free_port()}/mcp").returncode == 4
    assert run("list", str(cfg), "--url", demo_http).returncode == 2


def test_serve_stdio_ends_with_its_input_and_leaves_nothing(tmp_path):
    cfg = config(tmp_path, GOOD)
    proc = subprocess.Popen([*CLI, "serve", str(cfg)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        proc.stdin.write((json.dumps(init) + "\n").encode())
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())
        assert answer["id"] == 1 and answer["result"]["serverInfo"]["name"] == "mcpfleet", answer
        deadline = time.monotonic() + 20
        servers = []
        while len(servers) < 2 and time.monotonic() < deadline:
            servers = [pid for pid, (ppid, _) in processes().items() if ppid == proc.pid and pid != proc.pid]
            time.sleep(0.1)
        proc.stdin.close()
        assert proc.wait(15) == 0
        for pid in servers:
            assert wait_gone(pid, 10)
        assert proc.stdout.read() == b"", "nothing but MCP on stdout"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
