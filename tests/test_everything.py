"""Against the npm reference server `@modelcontextprotocol/server-everything`, all transports."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json

import pytest

import mcpfleet
from conftest import EVERYTHING, missing, node


async def exercise(client: mcpfleet.MCPClientBase) -> None:
    assert client.server_info.name == "mcp-servers/everything"
    names = {t.name for t in await client.list_tools()}
    assert {"echo", "get-sum", "get-tiny-image"} <= names
    assert (await client.call_tool("echo", {"message": "hi"})).text == "Echo: hi"
    r = await client.call_tool("get-sum", {"a": 2, "b": 3})
    assert "5" in r.text
    image = await client.call_tool("get-tiny-image", {})
    kinds = [c.type for c in image.content]
    assert "image" in kinds
    img = next(c for c in image.content if c.type == "image")
    assert img.mime_type == "image/png" and len(img.data) > 20
    resources = await client.list_resources()
    assert resources and all(r.uri for r in resources)
    read = await client.read_resource(resources[0].uri)
    assert read.contents
    prompts = await client.list_prompts()
    assert prompts
    await client.ping()
    await exercise_the_content_tools(client)


async def exercise_the_content_tools(client: mcpfleet.MCPClientBase) -> None:
    """The tools whose results carry annotations, resource links, embedded resources,
    structured content and the server's environment."""
    annotated = await client.call_tool("get-annotated-message", {"messageType": "error", "includeImage": True})
    assert annotated.content[0].text == "Error: Operation failed"
    assert annotated.content[0].annotations == {"audience": ["user", "assistant"], "priority": 1.0}
    assert annotated.content[1].type == "image" and annotated.content[1].annotations["audience"] == ["user"]

    env = json.loads((await client.call_tool("get-env", {})).text)
    assert env.get("PATH"), sorted(env)

    links = await client.call_tool("get-resource-links", {"count": 4})
    uris = [c.uri for c in links.content if c.type == "resource_link"]
    assert len(uris) == 4 and all(u.startswith("demo://resource/dynamic/") for u in uris), uris
    assert (await client.read_resource(uris[1])).contents

    reference = await client.call_tool("get-resource-reference", {"resourceType": "Blob", "resourceId": 2})
    assert [c.type for c in reference.content] == ["text", "resource", "text"]
    assert reference.content[1].resource.uri == "demo://resource/dynamic/blob/2"

    weather = await client.call_tool("get-structured-content", {"location": "New York"})
    assert set(weather.structured_content) == {"temperature", "conditions", "humidity"}, weather.structured_content

    text = "naïve ✓ notes\n" * 20
    data = "data:text/plain;base64," + base64.b64encode(text.encode()).decode()
    embedded = await client.call_tool("gzip-file-as-resource", {"name": "notes ✓.txt.gz", "data": data, "outputType": "resource"})
    assert not embedded.is_error, embedded.text
    blob = embedded.content[0].resource.blob
    assert gzip.decompress(base64.b64decode(blob)).decode() == text
    linked = await client.call_tool("gzip-file-as-resource", {"name": "link.gz", "data": data})
    assert linked.content[0].type == "resource_link" and linked.content[0].uri.endswith("/link.gz")
    # Kept by the server for this session: readable through the same client.
    read = await client.read_resource(linked.content[0].uri)
    assert gzip.decompress(base64.b64decode(read.contents[0].blob)).decode() == text


async def test_stdio():
    if not EVERYTHING.exists():
        missing("npm install has not been run")
    async with mcpfleet.StdioClient(node(), [str(EVERYTHING), "stdio"]) as client:
        await exercise(client)


async def test_streamable_http(everything_http):
    async with mcpfleet.StreamableHTTPClient(everything_http) as client:
        await exercise(client)


async def test_sse(everything_sse):
    async with mcpfleet.SSEClient(everything_sse) as client:
        await exercise(client)


def handlers(seen: dict) -> dict:
    def elicit(request):
        seen.setdefault("elicit", []).append(request)
        if request.mode == "url":
            return "accept"
        if "interpretation" in request.requested_schema["properties"]:  # simulate-research-query
            return {"interpretation": "snake"}
        return {"name": "Ada Lovelace", "check": True, "email": "ada@example.com"}

    async def sample(request):
        seen.setdefault("sample", []).append(request)
        return {"content": f"sampled: {request.prompt} ✓", "model": "test-model"}

    return {"elicitation_handler": elicit, "sampling_handler": sample, "roots": ["/srv/everything ✓"], "log_handler": seen.setdefault("logs", []).append}


async def exercise_requests(client: mcpfleet.MCPClientBase, seen: dict) -> None:
    """The tools that ask the client something, and progress."""
    names = {t.name for t in await client.list_tools()}
    assert {"get-roots-list", "trigger-elicitation-request", "trigger-url-elicitation", "trigger-sampling-request",
            "trigger-elicitation-request-async", "trigger-sampling-request-async"} <= names, names

    answer = await client.call_tool("trigger-elicitation-request", {})
    assert not answer.is_error, answer.text
    # What the handler gave, and the schema's defaults for what it left out (SEP-1034).
    for fragment in ("Ada Lovelace", "ada@example.com", "It was a dark and stormy night.", "42"):
        assert fragment in answer.text, answer.text
    assert seen["elicit"][0].server == client.name and "email" in seen["elicit"][0].requested_schema["properties"]

    answer = await client.call_tool("trigger-url-elicitation", {"url": "https://example.com/connect?x=1"})
    assert not answer.is_error and "accept" in answer.text, answer.text
    assert seen["elicit"][-1].url == "https://example.com/connect?x=1"

    answer = await client.call_tool("trigger-sampling-request", {"prompt": "say hi"})
    assert "sampled: " in answer.text and "say hi ✓" in answer.text, answer.text
    assert "test-model" in answer.text

    answer = await client.call_tool("get-roots-list", {})
    assert "file:///srv/everything%20%E2%9C%93" in answer.text, answer.text

    # The "async" ones ask the client to run its answer as a task (2025-11-25), then poll it.
    asked = len(seen["elicit"])
    answer = await client.call_tool("trigger-elicitation-request-async", {})
    assert answer.text.startswith("[COMPLETED] User provided the requested information!"), answer.text
    assert "- Name: Ada Lovelace" in answer.text and '"io.modelcontextprotocol/related-task"' in answer.text, answer.text
    assert len(seen["elicit"]) == asked + 1 and seen["elicit"][-1].message.endswith("(async task demo):")
    answer = await client.call_tool("trigger-sampling-request-async", {"prompt": "async hi"})
    assert answer.text.startswith("[COMPLETED] Async sampling completed!"), answer.text
    assert "sampled: " in answer.text and "async hi ✓" in answer.text and "Task created:" in answer.text, answer.text

    steps = []
    answer = await client.call_tool("trigger-long-running-operation", {"duration": 0.5, "steps": 5}, progress=lambda p, t, m: steps.append((p, t)))
    assert "Steps: 5" in answer.text
    for _ in range(100):
        if len(steps) == 5:
            break
        await asyncio.sleep(0.02)
    assert steps == [(float(i), 5.0) for i in range(1, 6)]

    await client.set_logging_level("debug")
    await client.call_tool("toggle-simulated-logging", {})
    for _ in range(100):  # the first message comes at once, the next ones every 5 s
        if seen["logs"]:
            break
        await asyncio.sleep(0.05)
    assert seen["logs"] and seen["logs"][0].server == client.name
    await client.call_tool("toggle-simulated-logging", {})


async def exercise_subscriber_updates(client: mcpfleet.MCPClientBase) -> None:
    """toggle-subscriber-updates: the server then sends `notifications/resources/updated` for
    each subscribed resource, every 5 s."""
    updated: asyncio.Queue = asyncio.Queue()
    uri = (await client.list_resources())[0].uri
    await client.subscribe(uri, updated.put_nowait)
    assert "Started simulated resource updated notifications" in (await client.call_tool("toggle-subscriber-updates", {})).text
    try:
        assert await asyncio.wait_for(updated.get(), 15) == uri
    finally:
        assert "Stopped" in (await client.call_tool("toggle-subscriber-updates", {})).text
        await client.unsubscribe(uri)


async def test_subscriber_updates_over_stdio():
    if not EVERYTHING.exists():
        missing("npm install has not been run")
    async with mcpfleet.StdioClient(node(), [str(EVERYTHING), "stdio"]) as client:
        await exercise_subscriber_updates(client)


async def test_subscriber_updates_over_streamable_http(everything_http):
    async with mcpfleet.StreamableHTTPClient(everything_http) as client:
        await exercise_subscriber_updates(client)


async def test_the_tools_that_ask_the_client_over_stdio():
    if not EVERYTHING.exists():
        missing("npm install has not been run")
    seen: dict = {}
    async with mcpfleet.StdioClient(node(), [str(EVERYTHING), "stdio"], name="everything ✓", **handlers(seen)) as client:
        await exercise_requests(client, seen)


async def test_the_tools_that_ask_the_client_over_streamable_http(everything_http):
    seen: dict = {}
    async with mcpfleet.StreamableHTTPClient(everything_http, name="everything ✓", **handlers(seen)) as client:
        await exercise_requests(client, seen)


async def exercise_tasks(client: mcpfleet.MCPClientBase, seen: dict) -> None:
    """simulate-research-query runs only as a task (2025-11-25): `call_tool` runs it as one, the
    server's question on the way goes to the handler, and the task API shows and cancels tasks."""
    tools = {t.name: t for t in await client.list_tools()}
    # What rmcp's type drops: listed around it, so the tool is called as a task at once.
    assert tools["simulate-research-query"].execution == {"taskSupport": "required"}
    assert tools["echo"].execution == {"taskSupport": "forbidden"}
    assert tools["simulate-research-query"].to_dict()["execution"] == {"taskSupport": "required"}
    assert tools["simulate-research-query"].to_mcp().execution.task_support == "required"
    answer = await client.call_tool("simulate-research-query", {"topic": "python", "ambiguous": True})
    assert not answer.is_error, answer.text
    assert "# Research Report: python (snake)" in answer.text and "Stage 4: Generating report ✓" in answer.text, answer.text
    assert "multiple interpretations" in seen["elicit"][-1].message

    task = await client.start_task("simulate-research-query", {"topic": "tasks ✓"}, ttl=60)
    assert task["status"] == "working" and task["taskId"] and task["pollInterval"] == 1000, task
    doomed = await client.start_task("simulate-research-query", {"topic": "never"})
    assert (await client.cancel_task(doomed["taskId"]))["status"] == "cancelled"
    assert (await client.get_task(doomed["taskId"]))["status"] == "cancelled"
    assert (await client.get_task(task["taskId"]))["status"] in ("working", "completed")
    result = await client.task_result(task["taskId"], timeout=30)
    assert "# Research Report: tasks ✓" in result.text, result.text
    assert (await client.get_task(task["taskId"]))["status"] == "completed"
    with pytest.raises(mcpfleet.ServerError):
        await client.get_task("no-such-task")


async def test_tasks_over_stdio():
    if not EVERYTHING.exists():
        missing("npm install has not been run")
    seen: dict = {}
    async with mcpfleet.StdioClient(node(), [str(EVERYTHING), "stdio"], **handlers(seen)) as client:
        await exercise_tasks(client, seen)


async def test_tasks_over_streamable_http(everything_http):
    seen: dict = {}
    async with mcpfleet.StreamableHTTPClient(everything_http, **handlers(seen)) as client:
        await exercise_tasks(client, seen)


async def test_tasks_need_a_session_with_a_direct_path(everything_sse):
    async with mcpfleet.SSEClient(everything_sse) as client:
        with pytest.raises(mcpfleet.ProtocolError, match="only in a stdio or streamable-HTTP session"):
            await client.start_task("simulate-research-query", {"topic": "x"})
        # The call itself comes back as the server's error, which says what the tool needs.
        answer = await client.call_tool("simulate-research-query", {"topic": "x"})
        assert answer.is_error and "requires task augmentation" in answer.text


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_task_tool_through_the_fleet_and_its_gateway(mode):
    """The fleet runs the task for its caller; a client of the gateway sees a plain call."""
    from mcp import Client

    if not EVERYTHING.exists():
        missing("npm install has not been run")
    servers = [{"name": "everything", "command": node(), "args": [str(EVERYTHING), "stdio"], "autoStart": True, "toolPrefix": "ev"}]
    async with mcpfleet.Adapter(servers) as fleet:
        listed = {t.name: t for t in fleet.get_tools()}
        assert listed["ev_simulate-research-query"].execution == {"taskSupport": "required"}
        assert listed["ev_simulate-research-query"].to_dict()["execution"] == {"taskSupport": "required"}
        result = await fleet.execute_tool("ev_simulate-research-query", {"topic": "fleets"})
        assert "# Research Report: fleets" in result.text, result.text
        task = await fleet.start_task("ev_simulate-research-query", {"topic": "the fleet's own task"})
        assert task["server"] == "everything" and task["status"] == "working", task
        assert (await fleet.get_task("everything", task["taskId"]))["taskId"] == task["taskId"]
        done = await fleet.task_result("everything", task["taskId"], timeout=30)
        assert "# Research Report: the fleet's own task" in done.text
        with pytest.raises(mcpfleet.ServerNotFoundError, match="did you mean"):
            await fleet.get_task("everythin", task["taskId"])
        async with await fleet.serve_http() as front, Client(front.url, mode=mode) as client:
            # The gateway runs the task itself: its clients see a plain tool.
            served = {t.name: t for t in (await client.list_tools()).tools}
            assert served["ev_simulate-research-query"].execution is None
            answer = await client.call_tool("ev_simulate-research-query", {"topic": "gateways"})
            assert not answer.is_error and "# Research Report: gateways" in answer.content[0].text
