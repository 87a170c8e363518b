"""The fleet served as one MCP server (`Adapter.serve_http()`), reached by the official `mcp`
SDK client in both protocol eras: the 2026-07-28 stateless mode `mcp.Client()` picks by default
and the 2025-11-25 session mode. Backends are the built-in server and an SDK server."""

from __future__ import annotations

import asyncio
import json
import logging
import os

import httpx2
import pytest
from mcp import Client, StdioServerParameters, types

import mcpfleet
from conftest import EVERYTHING, PY, SDK_SERVER, missing, node


def fleet_servers() -> list[dict]:
    return [
        {"name": "demo", "command": PY, "args": ["-m", "mcpfleet.demo_server"], "autoStart": True, "description": "the built-in server"},
        {"name": "py", "command": PY, "args": [SDK_SERVER], "autoStart": True, "toolPrefix": "sdk"},
    ]


def text(result) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sdk_client_sees_the_whole_fleet(mode):
    async with mcpfleet.Adapter(fleet_servers()) as fleet, await fleet.serve_http() as front:
        assert front.url.startswith("http://127.0.0.1:") and front.url.endswith("/mcp")
        async with Client(front.url, mode=mode) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"demo_echo", "demo_add", "sdk_add", "sdk_echo", "sdk_slow"} <= names, names
            assert not any(n.startswith("mcpserver_") for n in names)
            assert text(await client.call_tool("demo_echo", {"text": "through the gateway ü"})) == "through the gateway ü"
            assert text(await client.call_tool("sdk_add", {"a": 20, "b": 22})) == "42"
            # The caller's `_meta` reaches the server; its progress token (the server gets one of
            # the gateway's) and the protocol's per-request keys do not.
            trace = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "example.com/tenant": "ü"}
            seen = json.loads(text(await client.call_tool("sdk_request_meta", {}, meta={**trace, "progressToken": "p-1"})))
            assert seen["meta"] == trace and seen["progressToken"] != "p-1", seen
            failed = await client.call_tool("demo_fail", {"message": "on purpose"})
            assert failed.is_error and "on purpose" in text(failed)
            prompts = {p.name for p in (await client.list_prompts()).prompts}
            assert {"demo_greet", "sdk_hello"} <= prompts
            got = await client.get_prompt("sdk_hello", {"name": "Ada"})
            assert "Ada" in got.messages[0].content.text
            uris = {str(r.uri) for r in (await client.list_resources()).resources}
            assert {"demo://greeting", "test://greeting"} <= uris
            read = await client.read_resource("test://greeting")
            assert read.contents[0].text
            # A server that is down: the call says which and why.
            await fleet.stop("py")
            down = await client.call_tool("sdk_add", {"a": 1, "b": 2})
            assert down.is_error and "server `py` is Stopped" in text(down), text(down)


async def test_session_clients_hear_of_changes():
    changes: asyncio.Queue = asyncio.Queue()

    async def on_message(message) -> None:
        method = getattr(getattr(message, "root", message), "method", None) or getattr(message, "method", None)
        if method and method.endswith("list_changed"):
            changes.put_nowait(method)

    async with mcpfleet.Adapter(fleet_servers()) as fleet, await fleet.serve_http() as front:
        async with Client(front.url, mode="legacy", message_handler=on_message) as client:
            await client.list_tools()
            await fleet.stop("py")
            assert await asyncio.wait_for(changes.get(), 10) == "notifications/tools/list_changed"
            names = {t.name for t in (await client.list_tools(cache_mode="bypass")).tools}
            assert "sdk_add" not in names and "demo_add" in names
            while not changes.empty():
                changes.get_nowait()
            await fleet.create({"name": "late", "command": PY, "args": ["-m", "mcpfleet.demo_server"], "autoStart": True})
            assert await asyncio.wait_for(changes.get(), 10) == "notifications/tools/list_changed"
            names = {t.name for t in (await client.list_tools(cache_mode="bypass")).tools}
            assert "late_echo" in names


async def test_stateless_clients_listen_for_changes():
    async with mcpfleet.Adapter(fleet_servers()) as fleet, await fleet.serve_http() as front:
        async with Client(front.url) as client:
            async with client.listen(tools_list_changed=True) as sub:
                await fleet.stop("demo")
                event = await asyncio.wait_for(sub.__anext__(), 10)
                assert "tools" in type(event).__name__.lower() or "tools" in str(event).lower(), event
            names = {t.name for t in (await client.list_tools()).tools}
            assert "demo_echo" not in names and "sdk_echo" in names


async def test_front_security():
    async with mcpfleet.Adapter(fleet_servers()[:1], management_tools=True) as fleet:
        token = "front-token-4f1c9a"
        async with await fleet.serve_http(auth_token=token) as front:
            body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
            headers = {"Accept": "application/json, text/event-stream"}
            async with httpx2.AsyncClient() as http:
                r = await http.post(front.url, json=body, headers=headers)
                assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
                r = await http.post(front.url, json=body, headers={**headers, "Authorization": "Bearer nope"})
                assert r.status_code == 401 and "invalid_token" in r.headers["www-authenticate"]
                r = await http.post(front.url, json=body, headers={**headers, "Authorization": f"Bearer {token}", "Origin": "https://evil.example"})
                assert r.status_code == 403
                r = await http.post(front.url, json=body, headers={**headers, "Authorization": f"Bearer {token}", "Origin": "http://localhost:5173"})
                assert r.status_code == 200
            async with Client(bearer_transport(front.url, token), mode="legacy") as client:
                names = {t.name for t in (await client.list_tools()).tools}
                assert "mcpserver_list" in names  # the Adapter's setting
            assert token not in repr(front)
        with pytest.raises(mcpfleet.ConfigError, match="without an auth token"):
            await fleet.serve_http(host="0.0.0.0")
        with pytest.raises(mcpfleet.ConfigError, match="invalid host"):
            await fleet.serve_http(host="not a host")
        async with await fleet.serve_http(host="0.0.0.0", allow_unauthenticated=True, management_tools=False) as open_front:
            async with Client(open_front.url.replace("0.0.0.0", "127.0.0.1"), mode="legacy") as client:
                names = {t.name for t in (await client.list_tools()).tools}
                assert "demo_echo" in names and "mcpserver_list" not in names


def bearer_transport(url: str, token: str):
    """The SDK's streamable-HTTP transport with a bearer header."""
    from mcp.client.streamable_http import streamable_http_client

    return streamable_http_client(url, http_client=httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}))


async def test_tool_search_for_big_fleets():
    async with mcpfleet.Adapter(fleet_servers()) as fleet, await fleet.serve_http(tool_search=True) as front:
        async with Client(front.url, mode="legacy") as client:
            tools = (await client.list_tools()).tools
            assert [t.name for t in tools] == ["search_tools", "call_tool"]
            assert "of this fleet" in tools[0].description
            found = await client.call_tool("search_tools", {"query": "add two numbers", "limit": 5})
            names = [t["name"] for t in found.structured_content["tools"]]
            assert {"demo_add", "sdk_add"} <= set(names[:2]), names
            assert found.structured_content["total"] >= 10
            result = await client.call_tool("call_tool", {"name": "demo_add", "arguments": {"a": 40, "b": 2}})
            assert result.structured_content == {"result": 42}
            missing = await client.call_tool("call_tool", {"name": "demo_ech", "arguments": {}})
            assert missing.is_error and "did you mean `demo_echo`" in text(missing) and "search_tools" in text(missing)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_progress_passes_through_the_gateway_in_order(mode):
    servers = [{"name": "py", "command": PY, "args": [SDK_SERVER], "autoStart": True, "toolPrefix": "sdk"}]
    seen = []

    async def on_progress(progress, total, message):
        seen.append((progress, total, message))

    async with mcpfleet.Adapter(servers) as fleet, await fleet.serve_http() as front:
        async with Client(front.url, mode=mode) as client:
            result = await client.call_tool("sdk_steps", {"count": 5}, progress_callback=on_progress)
            assert text(result) == "5 steps"
            # Without a token, no progress comes back (and the call takes the direct path).
            assert text(await client.call_tool("sdk_steps", {"count": 2})) == "2 steps"
    assert seen == [(float(i), 5.0, f"step {i} of 5 ✓") for i in range(1, 6)]


async def test_everything_behind_the_gateway_templates_images_cancellation(tmp_path):
    if not EVERYTHING.exists():
        missing("npm install has not been run (server-everything missing)")
    servers = [
        {"name": "everything", "command": node(), "args": [str(EVERYTHING), "stdio"], "toolPrefix": "ev", "autoStart": True, "initTimeout": 30},
        {"name": "py", "command": PY, "args": [SDK_SERVER], "autoStart": True, "toolPrefix": "sdk"},
        {"name": "demo", "command": PY, "args": ["-m", "mcpfleet.demo_server"], "autoStart": True},
    ]
    marker = tmp_path / "cancelled"
    async with mcpfleet.Adapter(servers) as fleet, await fleet.serve_http() as front:
        async with Client(front.url, mode="legacy") as client:
            templates = (await client.list_resource_templates()).resource_templates
            assert templates, "server-everything lists resource templates"
            uri = templates[0].uri_template.split("{")[0] + "1"
            read = await client.read_resource(uri)
            assert read.contents, uri
            image = await client.call_tool("ev_get-tiny-image", {})
            assert any(c.type == "image" and c.mime_type == "image/png" for c in image.content)
            # A slow call does not hold up the others; cancelling it cancels it upstream.
            slow = asyncio.ensure_future(client.call_tool("sdk_slow", {"seconds": 30, "marker": str(marker)}))
            await asyncio.sleep(0.5)
            t0 = asyncio.get_running_loop().time()
            assert text(await client.call_tool("demo_echo", {"text": "fast"})) == "fast"
            assert asyncio.get_running_loop().time() - t0 < 2
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            for _ in range(200):
                if marker.exists():
                    break
                await asyncio.sleep(0.05)
            assert marker.read_text() == "cancelled"


async def test_calls_in_a_session_are_answered_in_one_json_body(caplog):
    """A `tools/call` in a session is answered by the gateway itself: one `application/json`
    body, no event stream. The checks rmcp applies still hold on that way."""
    caplog.set_level(logging.DEBUG, logger="mcpfleet.stderr")
    async with mcpfleet.Adapter(fleet_servers()[:1]) as fleet, await fleet.serve_http() as front:
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}
        async with httpx2.AsyncClient(timeout=10) as http:
            r = await http.post(front.url, json=init, headers=headers)
            session = {**headers, "Mcp-Session-Id": r.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
            r = await http.post(front.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
            assert r.status_code == 202

            def call(id, name, arguments):
                return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}}

            r = await http.post(front.url, json=call("é-1", "demo_echo", {"text": "ünïcode ✓"}), headers=session)
            assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text
            reply = r.json()
            assert reply["id"] == "é-1" and reply["result"]["content"][0]["text"] == "ünïcode ✓"
            assert "resultType" not in reply["result"]  # a 2025-11-25 session gets that era's shape
            r = await http.post(front.url, json=call(7, "demo_nope", {}), headers=session)
            assert r.json()["id"] == 7 and r.json()["error"]["code"] == -32602 and "demo_nope" in r.json()["error"]["message"]
            failed = (await http.post(front.url, json=call(8, "demo_fail", {"message": "on purpose"}), headers=session)).json()
            assert failed["result"]["isError"] is True

            # Refused as before: a foreign page, a foreign Host, an unknown session.
            r = await http.post(front.url, json=call(9, "demo_echo", {"text": "x"}), headers={**session, "Origin": "https://evil.example"})
            assert r.status_code == 403
            r = await http.post(front.url, json=call(10, "demo_echo", {"text": "x"}), headers={**session, "Host": "evil.example"})
            assert r.status_code == 403
            r = await http.post(front.url, json=call(11, "demo_echo", {"text": "x"}), headers={**session, "Mcp-Session-Id": "no-such-session"})
            assert r.status_code == 404

            # A client's notifications/cancelled ends the call here and upstream.
            slow = asyncio.ensure_future(http.post(front.url, json=call("slow-1", "demo_sleep", {"seconds": 30}), headers=session))
            await asyncio.sleep(0.5)
            cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "slow-1", "reason": "changed my mind"}}
            t0 = asyncio.get_running_loop().time()
            r = await http.post(front.url, json=cancel, headers=session)
            assert r.status_code == 202
            answer = await asyncio.wait_for(slow, 5)
            assert asyncio.get_running_loop().time() - t0 < 5
            assert answer.status_code == 200 and answer.text == ""  # like rmcp: the stream ends unanswered
            for _ in range(100):
                if any("sleep cancelled" in rec.getMessage() for rec in caplog.records):
                    break
                await asyncio.sleep(0.05)
            assert any("sleep cancelled" in rec.getMessage() for rec in caplog.records), "the server never heard of the cancellation"
            # the session goes on
            r = await http.post(front.url, json=call(12, "demo_add", {"a": 1, "b": 2}), headers=session)
            assert r.json()["result"]["structuredContent"] == {"result": 3}


class Asked:
    """What an SDK client connected to the gateway was asked, and its answers."""

    def __init__(self) -> None:
        self.elicited: list[str] = []
        self.sampled: list[str] = []
        self.logs: list[tuple[str, str, str]] = []
        self.roots = [types.Root(uri="file:///srv/daten ü", name="data")]

    async def elicit(self, context, params):
        self.elicited.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada Lovelace", "age": 36})

    async def sample(self, context, params):
        self.sampled.append(params.messages[0].content.text)
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="short ✓"), model="scripted", stop_reason="endTurn")

    async def list_roots(self, context):
        return types.ListRootsResult(roots=self.roots)

    async def log(self, params):
        self.logs.append((params.level, params.logger, params.data))

    def client(self, target, mode: str) -> Client:
        # On 2026-07-28 a client asks for logs in each request; in a session, by logging/setLevel.
        return Client(target, mode=mode, elicitation_callback=self.elicit, sampling_callback=self.sample,
                      list_roots_callback=self.list_roots, logging_callback=self.log, log_level="info")


async def ask_through(client: Client, asked: Asked) -> None:
    """The SDK server's questions, asked through the gateway, answered by `client`: mid-call in
    a session, by input-required rounds on 2026-07-28."""
    session = client.protocol_version != "2026-07-28"
    if session:
        await client.set_logging_level("info")
    # What the fleet's connection declared to the server.
    declared = json.loads(text(await client.call_tool("sdk_client_capabilities", {})))
    assert {"elicitation", "sampling", "roots"} <= set(declared), declared
    assert text(await client.call_tool("sdk_ask_contact", {})) == 'accept {"name":"Ada Lovelace","age":36,"newsletter":false}'
    assert text(await client.call_tool("sdk_greet_contact", {})) == "hello Ada Lovelace (36)"
    assert asked.elicited == ["Who are you? ✍", "Who are you? (either era)"]
    summary = json.loads(text(await client.call_tool("sdk_summarize", {"text": "a long story"})))
    assert summary["text"] == "short ✓" and asked.sampled == ["Summarize: a long story"], summary
    roots = (await client.call_tool("sdk_list_client_roots", {})).structured_content
    assert roots == {"result": ["file:///srv/daten%20%C3%BC data"]}, roots
    if session:
        before = (await client.call_tool("sdk_roots_changes", {})).structured_content["result"]
        await client.send_roots_list_changed()
        for _ in range(50):
            if (await client.call_tool("sdk_roots_changes", {})).structured_content["result"] > before:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the server never heard that the roots changed")
    assert text(await client.call_tool("sdk_chatty", {"text": "the logs"})) == "said the logs"
    for _ in range(50):
        if ("info", "py", "working on the logs") in asked.logs:
            break
        await asyncio.sleep(0.1)
    assert ("info", "py", "working on the logs") in asked.logs, asked.logs


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_servers_ask_the_gateways_http_client_and_the_fleet_answers_the_rest(mode):
    servers = [{"name": "py", "command": PY, "args": [SDK_SERVER], "autoStart": True, "toolPrefix": "sdk"}]
    fleet_asked: list[str] = []

    def fleet_elicitation(request):
        fleet_asked.append(request.server)
        return {"name": "the fleet", "age": 1}

    async with mcpfleet.Adapter(servers, elicitation_handler=fleet_elicitation) as fleet:
        # Connected before the gateway: serving reconnects it once, able to ask the gateway's clients.
        async with await fleet.serve_http() as front:
            asked = Asked()
            async with asked.client(front.url, mode) as client:
                assert (client.protocol_version == "2026-07-28") == (mode == "auto")
                await ask_through(client, asked)
            # A client that takes no questions: the fleet's own handler answers, and what
            # nobody can answer fails with the reason.
            async with Client(front.url, mode=mode) as plain:
                answer = text(await plain.call_tool("sdk_ask_contact", {}))
                assert answer == 'accept {"name":"the fleet","age":1,"newsletter":false}' and fleet_asked == ["py"], answer
                failed = await plain.call_tool("sdk_summarize", {"text": "x"})
                assert failed.is_error and "neither the gateway's client nor the fleet has a sampling handler" in text(failed), text(failed)
                # Its calls still take the direct path, in one JSON body.
                assert text(await plain.call_tool("sdk_echo", {"text": "fast"})) == "fast"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_servers_ask_the_gateways_stdio_client(tmp_path, mode):
    cfg = tmp_path / "fleet.yaml"
    cfg.write_text(f"# asks its clients\nname: py\ncommand: {PY}\nargs: [{SDK_SERVER}]\ntoolPrefix: sdk\nautoStart: true\n")
    params = StdioServerParameters(command=PY, args=["-m", "mcpfleet", "serve", str(cfg)], env={**os.environ})
    asked = Asked()
    async with asked.client(params, mode) as client:
        for _ in range(300):
            if "sdk_ask_contact" in {t.name for t in (await client.list_tools()).tools}:
                break
            await asyncio.sleep(0.1)
        await ask_through(client, asked)


@pytest.mark.parametrize("protocol", ["auto", "2026-07-28"])
async def test_mcpfleet_clients_answer_through_a_gateway_of_another_fleet(protocol):
    """Two fleets in a row: the outer one's client handlers answer the SDK server behind the inner one."""
    servers = [{"name": "py", "command": PY, "args": [SDK_SERVER], "autoStart": True, "toolPrefix": "sdk"}]
    asked = []

    async def elicit(request: mcpfleet.ElicitationRequest):
        asked.append((request.server, request.message))
        return {"name": "Grace Hopper", "age": 85}

    async with mcpfleet.Adapter(servers) as inner, await inner.serve_http() as front:
        async with mcpfleet.StreamableHTTPClient(front.url, name="outer ✓", elicitation_handler=elicit, sampling_handler=lambda r: "tiny",
                                                 protocol=protocol) as client:
            assert client.protocol_version == ("2026-07-28" if protocol != "auto" else "2025-11-25")
            assert (await client.call_tool("sdk_ask_contact")).text == 'accept {"name":"Grace Hopper","age":85,"newsletter":false}'
            assert (await client.call_tool("sdk_greet_contact")).text == "hello Grace Hopper (85)"
            assert json.loads((await client.call_tool("sdk_summarize", {"text": "x"})).text)["text"] == "tiny"
            # Without roots, the server's roots/list fails with the reason.
            failed = await client.call_tool("sdk_list_client_roots")
            assert failed.is_error and "neither the gateway's client nor the fleet has a list of roots" in failed.text, failed.text
    assert asked == [("outer ✓", "Who are you? ✍"), ("outer ✓", "Who are you? (either era)")]
