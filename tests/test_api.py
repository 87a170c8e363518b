"""The Python surface: construction, configuration errors, secrets kept out of repr."""

from __future__ import annotations

import pytest

import mcpfleet
from conftest import PY


def test_new_mcp_client_from_type_builds_each_transport():
    stdio = mcpfleet.new_mcp_client_from_type("stdio", mcpfleet.MCPClientConfig(command=PY, args=["-m", "mcpfleet.demo_server"]))
    assert type(stdio) is mcpfleet.StdioClient and stdio.transport == "stdio"
    http = mcpfleet.new_mcp_client_from_type("streamable-http", mcpfleet.MCPClientConfig(url="http://127.0.0.1:1/mcp"))
    assert type(http) is mcpfleet.StreamableHTTPClient
    sse = mcpfleet.new_mcp_client_from_type("sse", mcpfleet.MCPClientConfig(url="http://127.0.0.1:1/sse"))
    assert type(sse) is mcpfleet.SSEClient
    for client in (stdio, http, sse):
        assert isinstance(client, mcpfleet.MCPClient)


async def test_client_from_type_works_end_to_end():
    client = mcpfleet.new_mcp_client_from_type("stdio", mcpfleet.MCPClientConfig(command=PY, args=["-m", "mcpfleet.demo_server"]))
    async with client:
        assert (await client.call_tool("echo", {"text": "via config"})).text == "via config"


def test_unknown_type_and_missing_fields_are_clear():
    with pytest.raises(mcpfleet.ConfigError, match=r'unknown MCP client type "websocket".*"stdio", "streamable-http" or "sse"'):
        mcpfleet.new_mcp_client_from_type("websocket", mcpfleet.MCPClientConfig(url="ws://x"))
    with pytest.raises(mcpfleet.ConfigError, match="command is required"):
        mcpfleet.new_mcp_client_from_type("stdio", mcpfleet.MCPClientConfig())
    with pytest.raises(mcpfleet.ConfigError, match="url is required"):
        mcpfleet.new_mcp_client_from_type("sse", mcpfleet.MCPClientConfig(command="x"))
    assert issubclass(mcpfleet.ConfigError, ValueError)


def test_bad_urls_headers_and_timeouts_are_config_errors():
    with pytest.raises(mcpfleet.ConfigError, match="scheme must be http or https"):
        mcpfleet.StreamableHTTPClient("ftp://example.com/mcp")
    with pytest.raises(mcpfleet.ConfigError, match="invalid server URL"):
        mcpfleet.SSEClient("not a url")
    with pytest.raises(mcpfleet.ConfigError, match='"X-Key"') as e:
        mcpfleet.StreamableHTTPClient("http://127.0.0.1/mcp", headers={"X-Key": "top\nsecret"})
    assert "secret" not in str(e.value)
    with pytest.raises(mcpfleet.ConfigError, match="timeout"):
        mcpfleet.StdioClient("x", timeout=0)
    with pytest.raises(mcpfleet.ConfigError, match="command"):
        mcpfleet.StdioClient("  ")
    with pytest.raises(TypeError, match="env"):
        mcpfleet.StdioClient("x", env={"PORT": 8080})


def test_repr_never_shows_secrets():
    stdio = mcpfleet.StdioClient("server", ["--flag"], env={"API_KEY": "sk-live-123"})
    assert "sk-live-123" not in repr(stdio) and "API_KEY" in repr(stdio)
    http = mcpfleet.StreamableHTTPClient("https://user:pw-123@example.com/mcp?token=tok-456", headers={"Authorization": "Bearer tok-789"})
    text = repr(http)
    assert "pw-123" not in text and "tok-456" not in text and "tok-789" not in text
    assert "Authorization" in text and "token=***" in text
    config = mcpfleet.MCPClientConfig(url="https://example.com/mcp?key=k-1", headers={"X-Api-Key": "k-2"})
    assert "k-1" not in repr(config) and "k-2" not in repr(config)
    assert "k-2" not in repr(mcpfleet.MCPClientConfig(command="x", env={"K": "k-2"}))


def test_exceptions_form_one_hierarchy():
    for name in [
        "ConfigError", "ServerStartError", "ServerExitedError", "RequestTimeoutError", "ProtocolError",
        "ServerError", "TransportError", "ToolNotFoundError", "ServerNotRunningError", "AuthRequiredError",
    ]:
        assert issubclass(getattr(mcpfleet, name), mcpfleet.MCPFleetError), name
    assert issubclass(mcpfleet.RequestTimeoutError, TimeoutError)
    assert issubclass(mcpfleet.TransportError, ConnectionError)
    assert mcpfleet.DEFAULT_STDIO_INIT_TIMEOUT == 10.0
    assert (mcpfleet.DEFAULT_CLIENT_ID_KEY, mcpfleet.DEFAULT_CLIENT_SECRET_KEY) == ("client-id", "client-secret")
