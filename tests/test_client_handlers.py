"""What servers ask of their clients: elicitation (form and URL), sampling, roots, logs and
progress, answered by Python handlers, against the official SDK's servers on every transport
and through a fleet."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from mcp import types as sdk

import mcpfleet
from conftest import PY, SDK_SERVER

TRANSPORTS = ["stdio", "streamable-http", "sse"]


def client_for(transport: str, sdk_http: str, sdk_sse: str, **handlers) -> mcpfleet.MCPClientBase:
    if transport == "stdio":
        return mcpfleet.StdioClient(PY, [SDK_SERVER, "stdio"], name="peer ✓", **handlers)
    if transport == "sse":
        return mcpfleet.SSEClient(sdk_sse, name="peer ✓", **handlers)
    return mcpfleet.StreamableHTTPClient(sdk_http, name="peer ✓", **handlers)


@pytest.fixture(params=TRANSPORTS)
def make_client(request, sdk_http, sdk_sse):
    return lambda **handlers: client_for(request.param, sdk_http, sdk_sse, **handlers)


async def test_a_client_declares_exactly_the_capabilities_it_has_handlers_for(make_client):
    async with make_client() as client:
        assert json.loads((await client.call_tool("client_capabilities")).text) == {}
    async with make_client(elicitation_handler=lambda r: None, roots=["/srv"]) as client:
        declared = json.loads((await client.call_tool("client_capabilities")).text)
        assert set(declared) == {"elicitation", "roots", "tasks"}
        assert set(declared["elicitation"]) == {"form", "url"}
        assert declared["roots"] == {"listChanged": True}
        # 2025-11-25: the answers of the handlers it has can run as tasks.
        assert declared["tasks"] == {"list": {}, "cancel": {}, "requests": {"elicitation": {"create": {}}}}
    async with make_client(sampling_handler=lambda r: "ok", log_handler=lambda m: None) as client:
        declared = json.loads((await client.call_tool("client_capabilities")).text)
        assert set(declared) == {"sampling", "tasks"}
        assert declared["tasks"]["requests"] == {"sampling": {"createMessage": {}}}
    async with make_client(roots=["/srv"], protocol="2025-06-18") as client:
        # Before 2025-11-25 there are no tasks.
        assert set(json.loads((await client.call_tool("client_capabilities")).text)) == {"roots"}
    async with make_client(elicitation_handler=lambda r: None, protocol="2025-06-18") as client:
        assert set(json.loads((await client.call_tool("client_capabilities")).text)) == {"elicitation"}


async def test_form_elicitation_is_answered_by_an_async_handler_and_defaults_fill_the_rest(make_client):
    seen = []

    async def elicit(request: mcpfleet.ElicitationRequest):
        seen.append(request)
        await asyncio.sleep(0.01)
        return {"age": 36}  # a dict of content: accepted; the schema's defaults fill the rest

    async with make_client(elicitation_handler=elicit) as client:
        result = await client.call_tool("ask_contact")
        assert not result.is_error, result.text
        assert result.text.startswith("accept ")
        assert json.loads(result.text[len("accept "):]) == {"name": "Ada Lovelace", "age": 36, "newsletter": False}
    (request,) = seen
    assert (request.server, request.mode, request.message) == ("peer ✓", "form", "Who are you? ✍")
    assert set(request.requested_schema["properties"]) == {"name", "age", "newsletter"}
    assert request.defaults() == {"name": "Ada Lovelace", "newsletter": False}
    assert request.url is None and "form" in repr(request)


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("decline", "decline"),
        ("cancel", "cancel"),
        (None, "decline"),
        ({"action": "accept", "content": {"name": "Grace", "age": 85, "newsletter": True}}, 'accept {"name":"Grace","age":85,"newsletter":true}'),
        (sdk.ElicitResult(action="cancel"), "cancel"),
    ],
)
async def test_a_sync_handler_may_decline_cancel_or_answer_in_full(answer, expected, sdk_http, sdk_sse):
    async with client_for("streamable-http", sdk_http, sdk_sse, elicitation_handler=lambda request: answer) as client:
        assert (await client.call_tool("ask_contact")).text == expected


async def test_without_a_handler_elicitation_is_declined(make_client):
    async with make_client() as client:
        assert (await client.call_tool("ask_contact")).text == "decline"


async def test_a_handler_that_fails_fails_the_servers_request_not_the_client(make_client):
    def broken(request):
        raise RuntimeError("no user at the keyboard")

    # The SDK server passes the client's error on as the call's error.
    async with make_client(elicitation_handler=broken) as client:
        with pytest.raises(mcpfleet.ServerError, match="elicitation handler failed: RuntimeError: no user at the keyboard"):
            await client.call_tool("ask_contact")
        assert (await client.call_tool("add", {"a": 1, "b": 2})).text == "3"
    async with make_client(elicitation_handler=lambda request: 42) as client:
        with pytest.raises(mcpfleet.ServerError, match="elicitation handler failed: returned int"):
            await client.call_tool("ask_contact")


async def test_url_elicitation_shows_the_url(make_client):
    seen = []

    def elicit(request):
        seen.append((request.mode, request.url, request.elicitation_id, request.requested_schema))
        return "accept"

    async with make_client(elicitation_handler=elicit) as client:
        assert (await client.call_tool("ask_url")).text == "accept"
    assert seen == [("url", "https://example.com/connect?session=abc", "elicit-42", None)]


async def test_sampling_is_answered_by_the_handler(make_client):
    seen = []

    async def sample(request: mcpfleet.SamplingRequest):
        seen.append(request)
        return f"{len(request.prompt)} chars"  # "Summarize: the long report ✓"

    async with make_client(sampling_handler=sample) as client:
        answer = json.loads((await client.call_tool("summarize", {"text": "the long report ✓"})).text)
    assert answer == {"model": "unknown", "role": "assistant", "text": "28 chars", "stopReason": "endTurn"}
    (request,) = seen
    assert request.server == "peer ✓" and request.max_tokens == 50 and request.system_prompt == "Be brief."
    assert request.messages == [{"role": "user", "content": {"type": "text", "text": "Summarize: the long report ✓"}}]


@pytest.mark.parametrize(
    "answer",
    [
        {"content": "from a dict", "model": "test-model"},
        sdk.CreateMessageResult(role="assistant", content=sdk.TextContent(type="text", text="from a dict"), model="test-model"),
    ],
)
async def test_sampling_answers_may_be_dicts_or_sdk_results(answer, sdk_http, sdk_sse):
    async with client_for("stdio", sdk_http, sdk_sse, sampling_handler=lambda request: answer) as client:
        result = json.loads((await client.call_tool("summarize", {"text": "x"})).text)
    assert (result["model"], result["text"]) == ("test-model", "from a dict")


async def test_without_a_sampling_handler_the_server_is_told_no(make_client):
    # The SDK server passes "method not found" on as the call's error.
    async with make_client() as client:
        with pytest.raises(mcpfleet.ServerError, match=r"-32601.*no sampling handler"):
            await client.call_tool("summarize", {"text": "x"})


async def test_roots_are_listed_and_changes_announced(make_client, tmp_path):
    async with make_client(roots=[str(tmp_path), ("file:///srv/shared", "shared ✓")]) as client:
        listed = (await client.call_tool("list_client_roots")).structured_content["result"]
        assert listed == [tmp_path.as_uri(), "file:///srv/shared shared ✓"]
        before = int((await client.call_tool("roots_changes")).text)
        await client.set_roots([{"uri": "file:///home/ünï", "name": "home"}])
        for _ in range(100):
            if int((await client.call_tool("roots_changes")).text) > before:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the server was not told the roots changed")
        assert (await client.call_tool("list_client_roots")).structured_content["result"] == ["file:///home/%C3%BCn%C3%AF home"]


async def test_roots_may_come_from_a_function_and_bad_roots_are_refused(sdk_http, sdk_sse):
    calls = []

    async def roots():
        calls.append(1)
        return [f"/data/{len(calls)}"]

    async with client_for("stdio", sdk_http, sdk_sse, roots=roots) as client:
        assert (await client.call_tool("list_client_roots")).structured_content["result"] == ["file:///data/1"]
        assert (await client.call_tool("list_client_roots")).structured_content["result"] == ["file:///data/2"]
        with pytest.raises(mcpfleet.ConfigError, match="no list of roots"):
            await client.set_roots(["/x"])
    with pytest.raises(ValueError, match=r"roots\[0\].*absolute"):
        mcpfleet.StdioClient(PY, [SDK_SERVER], roots=["relative/dir"])
    with pytest.raises(TypeError, match="not one string"):
        mcpfleet.StdioClient(PY, [SDK_SERVER], roots="/one/string")
    with pytest.raises(TypeError, match="elicitation_handler must be a function"):
        mcpfleet.StdioClient(PY, [SDK_SERVER], elicitation_handler="accept")


async def test_progress_reaches_the_calls_callback_in_order(make_client):
    seen = []
    async with make_client() as client:
        result = await client.call_tool("steps", {"count": 4}, progress=lambda p, total, message: seen.append((p, total, message)))
        assert result.text == "4 steps"
        for _ in range(100):  # notifications sent before the answer may be delivered just after it
            if len(seen) == 4:
                break
            await asyncio.sleep(0.01)
        assert seen == [(float(i), 4.0, f"step {i} of 4 ✓") for i in range(1, 5)]

        got = asyncio.Queue()

        async def on_progress(p, total, message):
            await got.put(p)

        await client.call_tool("steps", {"count": 2}, progress=on_progress)
        assert [await asyncio.wait_for(got.get(), 5) for _ in range(2)] == [1.0, 2.0]
        with pytest.raises(TypeError, match="progress must be a function"):
            await client.call_tool("steps", {"count": 1}, progress="yes")


async def test_a_log_handler_gets_each_servers_messages(make_client):
    got: asyncio.Queue = asyncio.Queue()
    async with make_client(log_handler=got.put_nowait) as client:
        await client.call_tool("steps", {"count": 2})
        messages = [await asyncio.wait_for(got.get(), 5) for _ in range(2)]
    assert [(m.server, m.level, m.data) for m in messages] == [("peer ✓", "info", "step 1"), ("peer ✓", "info", "step 2")]
    assert "LogMessage(" in repr(messages[0])


async def test_a_fleet_passes_its_servers_requests_to_its_handlers():
    asked = []

    def fleet_wide(request):
        asked.append(("fleet", request.server))
        return {"age": 1}

    def own(request):
        asked.append(("own", request.server))
        return "cancel"

    servers = [
        {"name": "one", "type": "stdio", "command": PY, "args": [SDK_SERVER, "stdio"], "autoStart": True},
        {"name": "two", "type": "stdio", "command": PY, "args": [SDK_SERVER, "stdio"], "autoStart": True},
    ]
    progress = []
    async with mcpfleet.Adapter(servers, elicitation_handler=fleet_wide, sampling_handler=lambda r: f"hi {r.server}") as fleet:
        assert (await fleet.execute_tool("one_ask_contact")).text.startswith('accept {"name":"Ada Lovelace","age":1')
        fleet.set_handlers("two", elicitation_handler=own)
        with pytest.raises(mcpfleet.ServerNotFoundError):
            fleet.set_handlers("three", elicitation_handler=own)
        await fleet.restart("two")
        assert (await fleet.execute_tool("two_ask_contact")).text == "cancel"
        # Handlers not given to a server stay the fleet's.
        assert json.loads((await fleet.execute_tool("two_summarize", {"text": "x"})).text)["text"] == "hi two"
        await fleet.execute_tool("one_steps", {"count": 2}, progress=lambda p, t, m: progress.append(p))
    assert asked == [("fleet", "one"), ("own", "two")]
    for _ in range(100):
        if len(progress) == 2:
            break
        await asyncio.sleep(0.01)
    assert progress == [1.0, 2.0]


def test_the_sync_client_runs_handlers_while_it_waits():
    from mcpfleet import sync

    threads = []

    def elicit(request):
        threads.append(threading.current_thread() is threading.main_thread())
        return {"age": 7}

    with sync.StdioClient(PY, [SDK_SERVER, "stdio"], elicitation_handler=elicit) as client:
        assert client.call_tool("ask_contact").text.startswith("accept")
        steps = []
        client.call_tool("steps", {"count": 3}, progress=lambda p, t, m: steps.append(p))
    assert threads == [False]  # on mcpfleet's callback loop, not the blocked caller


async def test_resource_updates_reach_the_subscribers_callback(make_client):
    got: asyncio.Queue = asyncio.Queue()
    async with make_client() as client:
        await client.subscribe("test://items/ünï", got.put_nowait)
        await client.subscribe("test://greeting")  # no callback: subscribed all the same
        assert (await client.call_tool("touch", {"uri": "test://items/ünï"})).text == "true"
        assert await asyncio.wait_for(got.get(), 5) == "test://items/ünï"
        assert (await client.call_tool("touch", {"uri": "test://greeting"})).text == "true"
        await client.unsubscribe("test://items/ünï")
        assert (await client.call_tool("touch", {"uri": "test://items/ünï"})).text == "false"
        await asyncio.sleep(0.2)
        assert got.empty()
        with pytest.raises(TypeError, match="on_update must be a function"):
            await client.subscribe("test://greeting", "print")


async def test_arguments_are_completed(make_client):
    async with make_client() as client:
        done = await client.complete({"type": "ref/resource", "uri": "test://items/{item}"}, {"name": "item", "value": "ap"})
        assert done == {"values": ["apple", "apricot"], "total": 2, "hasMore": False}
        done = await client.complete(
            sdk.PromptReference(type="ref/prompt", name="hello"), {"name": "name", "value": ""}, context_arguments={"greeting": "Dr. "}
        )
        assert done["values"] == ["Dr. Ada", "Dr. Alan"]
        with pytest.raises(mcpfleet.ConfigError, match=r"complete\(\).*ref/prompt"):
            await client.complete({"type": "ref/nothing"}, {"name": "x", "value": ""})
    async with mcpfleet.StdioClient(PY, ["-m", "mcpfleet.demo_server"]) as demo:
        # No completions capability: no values, and the server is not asked.
        assert (await demo.complete({"type": "ref/prompt", "name": "greet"}, {"name": "name", "value": "A"}))["values"] == []


TRACE = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "example.com/tenant": "Zoë"}


async def test_meta_reaches_the_server_on_prompts_and_reads_too(make_client):
    async with make_client() as client:
        got = await client.get_prompt("meta_prompt", meta=TRACE)
        assert json.loads(got.to_dict()["messages"][0]["content"]["text"])["meta"] == TRACE
        read = await client.read_resource("test://request-meta/ü", meta=TRACE)
        assert json.loads(read.to_dict()["contents"][0]["text"])["meta"] == TRACE
        plain = await client.read_resource("test://request-meta/ü")
        assert json.loads(plain.to_dict()["contents"][0]["text"])["meta"] == {}


async def test_meta_reaches_the_server_through_a_fleet_and_its_gateway():
    servers = [{"name": "py", "command": PY, "args": [SDK_SERVER], "autoStart": True, "toolPrefix": "sdk"}]
    async with mcpfleet.Adapter(servers) as fleet:
        got = await fleet.get_prompt("sdk_meta_prompt", meta=TRACE)
        assert json.loads(got.to_dict()["messages"][0]["content"]["text"])["meta"] == TRACE
        read = await fleet.read_resource("test://request-meta/ü", meta=TRACE)
        assert json.loads(read.to_dict()["contents"][0]["text"])["meta"] == TRACE
        # A client of the gateway: its own keys go on, the protocol's and its progress token do not.
        async with await fleet.serve_http() as front, mcpfleet.StreamableHTTPClient(front.url) as client:
            got = await client.get_prompt("sdk_meta_prompt", meta={**TRACE, "progressToken": "p-7"})
            seen = json.loads(got.to_dict()["messages"][0]["content"]["text"])
            assert seen["meta"] == TRACE and seen["progressToken"] != "p-7", seen
            read = await client.read_resource("test://request-meta/ü", meta=TRACE)
            assert json.loads(read.to_dict()["contents"][0]["text"])["meta"] == TRACE


async def test_answers_run_as_tasks_when_the_server_asks(make_client):
    """2025-11-25: an elicitation sent with `task` is answered at once with the task; the
    handler's answer comes by tasks/result; tasks/list, tasks/get and tasks/cancel work."""
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow_answer(request):
        started.set()
        await release.wait()
        return {"name": "Ada ✓"}

    async with make_client(elicitation_handler=slow_answer) as client:
        call = asyncio.ensure_future(client.call_tool("ask_as_a_task", {}))
        await asyncio.wait_for(started.wait(), 10)
        assert not call.done()  # the server waits in tasks/result while the handler runs
        release.set()
        seen = json.loads((await call).text)
        task_id = seen["created"]["taskId"]
        assert seen["created"]["status"] == "working" and seen["created"]["ttl"] == 60000, seen
        assert seen["listed"] == [task_id]
        assert seen["result"]["action"] == "accept" and seen["result"]["content"] == {"name": "Ada ✓"}
        assert seen["result"]["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": task_id}
        assert seen["status"] == "completed"
        assert "no task" in seen["unknown"]

        release.clear()
        started.clear()
        seen = json.loads((await client.call_tool("ask_as_a_task", {"cancel": True})).text)
        assert seen["cancelled"]["status"] == "cancelled" and seen["status"] == "cancelled", seen
        assert "was cancelled" in seen["tasks/result"] and "already ended" in seen["tasks/cancel"], seen


async def test_meta_goes_with_every_request(make_client):
    """`meta=` on every client request reaches the server as the request's `_meta` (the SDK
    server's middleware keeps it), e.g. a trace context."""
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    def meta(tag: str) -> dict:
        return {"tag": tag, "traceparent": trace}

    async with make_client() as client:
        await client.list_tools(meta=meta("tools ✓"))
        await client.list_prompts(meta=meta("prompts"))
        await client.list_resources(meta=meta("resources"))
        await client.list_resource_templates(meta=meta("templates"))
        await client.ping(meta=meta("ping"))
        await client.set_logging_level("info", meta=meta("level"))
        await client.subscribe("test://greeting", meta=meta("subscribe"))
        await client.unsubscribe("test://greeting", meta=meta("unsubscribe"))
        await client.complete({"type": "ref/resource", "uri": "test://items/{item}"}, {"name": "item", "value": "ap"}, meta=meta("complete"))
        await client.read_resource("test://greeting", meta=meta("read"))
        await client.list_tools()  # no meta: nothing recorded
        seen = json.loads((await client.call_tool("seen_meta", meta=meta("call"))).text)
        assert seen == {
            "tools/list": "tools ✓", "prompts/list": "prompts", "resources/list": "resources",
            "resources/templates/list": "templates", "ping": "ping", "logging/setLevel": "level",
            "resources/subscribe": "subscribe", "resources/unsubscribe": "unsubscribe",
            "completion/complete": "complete", "resources/read": "read", "tools/call": "call",
        }
        with pytest.raises(TypeError):
            await client.list_tools(meta="not a dict")
