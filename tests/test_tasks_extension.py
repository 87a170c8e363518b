"""Tasks as protocol 2026-07-28 has them (the `io.modelcontextprotocol/tasks` extension,
SEP-2663), against FastMCP's own implementation (`fastmcp-tasks`): a call the server makes a
task is followed to its end behind the same `call_tool`, its questions go to the handlers, and
the task API works on it."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

import mcpfleet
from conftest import TASK_SERVER, tasks_python

pytestmark = pytest.mark.asyncio


def stdio(protocol: str = "2026-07-28", **kwargs) -> mcpfleet.StdioClient:
    return mcpfleet.StdioClient(tasks_python(), [TASK_SERVER], name="tâches", protocol=protocol, init_timeout=30, **kwargs)


def http(url: str, protocol: str = "2026-07-28", **kwargs) -> mcpfleet.StreamableHTTPClient:
    return mcpfleet.StreamableHTTPClient(url, name="tâches", protocol=protocol, **kwargs)


async def exercise(client: mcpfleet.MCPClientBase, asked: list) -> None:
    assert client.protocol_version == "2026-07-28"
    started = time.monotonic()
    result = await client.call_tool("crunch", {"n": 12})
    assert not result.is_error, result.text
    assert result.structured_content == {"n": 12, "squared": 144, "note": "crunched ✓"}
    # The poll starts at 20 ms and doubles: a 0.2 s task is not made to wait the server's 5 s interval.
    assert time.monotonic() - started < 3, "polling waited for the server's suggested interval"

    # Its question, asked from inside the task, goes to the handler and the answer back by tasks/update.
    assert (await client.call_tool("greet", {})).text == "hello Zoë"
    assert asked and asked[-1].message == "Who is there?"

    # A tool that fails in its task: the task completes with an error result (SEP-2663).
    failed = await client.call_tool("broken", {})
    assert failed.is_error and "out of flux" in failed.text

    assert (await client.call_tool("either", {"text": "abc"})).text == "cba"
    assert (await client.call_tool("plain", {"text": "abc"})).text == "ABC"

    # Given up: the task is cancelled at the server.
    with pytest.raises(mcpfleet.RequestTimeoutError) as timed_out:
        await client.call_tool("slow", {}, timeout=1)
    found = re.search(r"task (\S+) was cancelled", str(timed_out.value))
    assert found, str(timed_out.value)
    for _ in range(100):
        if (await client.get_task(found.group(1)))["status"] == "cancelled":
            break
        await asyncio.sleep(0.05)
    assert (await client.get_task(found.group(1)))["status"] == "cancelled"

    # The task API.
    task = await client.start_task("crunch", {"n": 3})
    assert task["status"] == "working" and task["taskId"] and task["pollInterval"] > 0, task
    done = await client.task_result(task["taskId"], timeout=20)
    assert done.structured_content["squared"] == 9
    assert (await client.get_task(task["taskId"]))["status"] == "completed"
    doomed = await client.start_task("slow", {})
    assert (await client.cancel_task(doomed["taskId"]))["status"] in ("cancelled", "working")
    with pytest.raises(mcpfleet.ProtocolError, match="ran the call at once"):
        await client.start_task("plain", {"text": "x"})
    with pytest.raises(mcpfleet.ServerError):
        await client.get_task("no-such-task")


def answering(asked: list):
    def elicit(request: mcpfleet.ElicitationRequest):
        asked.append(request)
        return {"name": "Zoë"}

    return elicit


async def test_tasks_over_stdio():
    asked: list = []
    async with stdio(elicitation_handler=answering(asked)) as client:
        await exercise(client, asked)


async def test_tasks_over_streamable_http(task_server_http):
    asked: list = []
    async with http(task_server_http, elicitation_handler=answering(asked)) as client:
        await exercise(client, asked)


async def test_latest_prefers_2026_and_so_runs_tasks(task_server_http):
    async with http(task_server_http, protocol="latest") as client:
        assert client.protocol_version == "2026-07-28"
        assert (await client.call_tool("crunch", {"n": 2})).structured_content["squared"] == 4
        # Without a handler the question is declined, and the tool says so.
        assert (await client.call_tool("greet", {})).text == "nobody (decline)"


async def test_a_session_cannot_declare_the_extension_and_says_what_to_do(task_server_http):
    async with http(task_server_http, protocol="auto") as client:
        assert client.protocol_version == "2025-11-25"
        with pytest.raises(mcpfleet.ServerError, match=r'protocol="latest"'):
            await client.call_tool("crunch", {"n": 1})
        # Optional tasks run as plain calls.
        assert (await client.call_tool("either", {"text": "ab"})).text == "ba"


async def test_through_the_fleet_and_its_gateway():
    from mcp import Client

    servers = [{"name": "tâches", "command": tasks_python(), "args": [TASK_SERVER], "protocol": "2026-07-28",
                "autoStart": True, "toolPrefix": "t", "initTimeout": 30}]
    async with mcpfleet.Adapter(servers, elicitation_handler=lambda request: {"name": request.server}) as fleet:
        assert (await fleet.execute_tool("t_crunch", {"n": 5})).structured_content["squared"] == 25
        assert (await fleet.execute_tool("t_greet", {})).text == "hello tâches"
        task = await fleet.start_task("t_crunch", {"n": 4})
        assert task["server"] == "tâches"
        assert (await fleet.task_result("tâches", task["taskId"], timeout=20)).structured_content["squared"] == 16
        async with await fleet.serve_http() as front, Client(front.url) as sdk:
            answer = await sdk.call_tool("t_crunch", {"n": 7})
            assert not answer.is_error and answer.structured_content["squared"] == 49
