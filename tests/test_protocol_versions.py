"""Protocol versions: each transport against a server of each era (the SDK's, which speaks
2026-07-28 and the session versions; server-everything and a hand-written server that know only
the `initialize` handshake; a server that knows only 2026-07-28), under each `protocol=`."""

from __future__ import annotations

import asyncio

import pytest

import mcpfleet
from conftest import EVERYTHING, FIXTURES, PY, SDK_SERVER, missing, node

MODERN_ONLY = str(FIXTURES / "modern_only_server.py")
HOSTILE = str(FIXTURES / "hostile_server.py")


def sdk_client(transport: str, sdk_http: str, sdk_sse: str, **options) -> mcpfleet.MCPClientBase:
    if transport == "stdio":
        return mcpfleet.StdioClient(PY, [SDK_SERVER, "stdio"], **options)
    if transport == "sse":
        return mcpfleet.SSEClient(sdk_sse, **options)
    return mcpfleet.StreamableHTTPClient(sdk_http, **options)


@pytest.mark.parametrize("transport", ["stdio", "streamable-http", "sse"])
@pytest.mark.parametrize(
    "protocol, expected",
    [("auto", "2025-11-25"), ("latest", "2026-07-28"), ("2026-07-28", "2026-07-28"), ("2025-11-25", "2025-11-25"), ("2025-06-18", "2025-06-18")],
)
async def test_a_server_of_both_eras(transport, protocol, expected, sdk_http, sdk_sse):
    async with sdk_client(transport, sdk_http, sdk_sse, protocol=protocol) as client:
        assert client.protocol_version == client.server_info.protocol_version == expected
        assert client.server_info.name == "sdk-test-peer"
        assert "add" in {t.name for t in await client.list_tools()}
        assert (await client.call_tool("add", {"a": 2, "b": 40})).text == "42"


@pytest.mark.parametrize("transport", ["stdio", "streamable-http"])
@pytest.mark.parametrize("protocol", ["auto", "2026-07-28"])
async def test_a_server_asks_for_input_in_the_way_of_its_era(transport, protocol, sdk_http, sdk_sse):
    """Mid-call in a session; on 2026-07-28 by input-required rounds, answered by the same
    handler, with the call sent again."""
    asked = []

    def elicit(request):
        asked.append(request.message)
        return {"name": "Émile", "age": 7}

    async with sdk_client(transport, sdk_http, sdk_sse, protocol=protocol, elicitation_handler=elicit) as client:
        result = await client.call_tool("greet_contact")
        assert result.text == "hello Émile (7)", result.text
    assert asked == ["Who are you? (either era)"]


@pytest.mark.parametrize("server", ["everything", "hand-written"])
async def test_a_server_that_knows_only_initialize(server):
    if server == "everything":
        if not EVERYTHING.exists():
            missing("npm install has not been run (server-everything missing)")
        command, args = node(), [str(EVERYTHING), "stdio"]
    else:
        command, args = PY, [HOSTILE]
    for protocol, expected in [("auto", "2025-11-25"), ("latest", "2025-11-25"), ("2025-03-26", "2025-03-26")]:
        async with mcpfleet.StdioClient(command, args, protocol=protocol, init_timeout=30) as client:
            assert client.protocol_version == expected, protocol
            assert await client.list_tools()
    with pytest.raises(mcpfleet.ServerError, match=r"server/discover.*protocol=\"auto\""):
        await mcpfleet.StdioClient(command, args, protocol="2026-07-28", init_timeout=30).initialize()


@pytest.mark.parametrize("protocol", ["auto", "latest", "2026-07-28"])
async def test_a_server_that_knows_only_2026(protocol):
    async with mcpfleet.StdioClient(PY, [MODERN_ONLY], protocol=protocol) as client:
        assert client.protocol_version == "2026-07-28"
        info = client.server_info
        assert (info.name, info.instructions) == ("modern-only", "Only the new era ✓")
        assert [t.name for t in await client.list_tools()] == ["whoami", "grow"]
        # Every request carries the client's context (SEP-2575), as the server checks.
        assert (await client.call_tool("whoami")).text == "mcpfleet on 2026-07-28"
    with pytest.raises(mcpfleet.ServerError, match="-32022"):
        await mcpfleet.StdioClient(PY, [MODERN_ONLY], protocol="2025-11-25").initialize()


async def test_a_fleet_hears_of_a_2026_servers_changes_on_its_listen_stream():
    """Without a session, a server announces list changes only on `subscriptions/listen`: the
    fleet keeps one open and re-lists."""
    servers = [{"name": "modern", "command": PY, "args": [MODERN_ONLY], "autoStart": True, "toolPrefix": "m"}]
    async with mcpfleet.Adapter(servers) as fleet:
        assert fleet.get_mcp_server("modern").protocol_version == "2026-07-28"
        assert {t.name for t in fleet.get_tools()} == {"m_whoami", "m_grow"}
        assert (await fleet.execute_tool("m_grow", {})).text == "grown"
        for _ in range(100):
            if "m_grown_2" in {t.name for t in fleet.get_tools()}:
                break
            await asyncio.sleep(0.05)
        assert {t.name for t in fleet.get_tools()} == {"m_whoami", "m_grow", "m_grown_2"}


def test_an_unknown_protocol_is_refused_at_once():
    with pytest.raises(mcpfleet.ConfigError, match=r'unknown protocol "2025-13-01": expected "auto", "latest" or one of 2024-11-05, .*2026-07-28'):
        mcpfleet.StdioClient(PY, [SDK_SERVER], protocol="2025-13-01")
    config = mcpfleet.MCPClientConfig(command=PY, args=[SDK_SERVER], protocol="latest")
    assert mcpfleet.new_mcp_client_from_type("stdio", config).protocol_version is None


async def test_a_fleet_server_may_name_its_protocol(tmp_path):
    config = tmp_path / "fleet.yaml"
    config.write_text(
        "# two eras side by side\n"
        f"name: old\ncommand: {PY}\nargs: [{SDK_SERVER!r}]\nautoStart: true\n"
        "---\n"
        f"name: new\ncommand: {PY}\nargs: [{SDK_SERVER!r}]\nautoStart: true\nprotocol:   '2026-07-28'   # pinned\n"
    )
    async with mcpfleet.Adapter.from_config(str(config)) as fleet:
        versions = {s.name: s.protocol_version for s in fleet.list_mcp_servers()}
        assert versions == {"old": "2025-11-25", "new": "2026-07-28"}
        assert (await fleet.execute_tool("new_add", {"a": 1, "b": 2})).text == "3"
    config.write_text(f"name: odd\ncommand: {PY}\n\nprotocol: 2025-13-01\n")
    with pytest.raises(mcpfleet.ConfigError) as caught:
        mcpfleet.Adapter.from_config(str(config))
    assert caught.value.line == 4 and 'unknown protocol "2025-13-01"' in str(caught.value)
