"""Token providers against a bearer-protected server on the official SDK: called on every
request, sync or async or an object, failures and timeouts as clear errors, no token leaks."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

import mcpfleet


async def test_sync_provider_is_called_for_every_request(protected_http, caplog):
    caplog.set_level(logging.DEBUG)
    counter = itertools.count(1)
    calls = []

    def provider() -> str:
        calls.append(asyncio.get_running_loop())  # runs on the caller's event loop
        return f"valid-{next(counter)}"

    async with mcpfleet.DynamicAuthClient(protected_http, provider) as client:
        first = (await client.call_tool("token", {})).text
        second = (await client.call_tool("token", {})).text
        assert first.startswith("valid-") and second.startswith("valid-") and first != second
        assert int(second.split("-")[1]) > int(first.split("-")[1])
        assert all(loop is asyncio.get_running_loop() for loop in calls)
        assert "valid-" not in repr(client) and "token_provider=True" in repr(client)
    assert not any("valid-" in r.getMessage() for r in caplog.records)


async def test_async_provider_and_object_provider(protected_http, protected_sse):
    async def fetch() -> str:
        await asyncio.sleep(0.01)
        return "valid-async"

    async with mcpfleet.StreamableHTTPClient(protected_http, token_provider=fetch) as client:
        assert (await client.call_tool("token", {})).text == "valid-async"

    class Vault:
        def __init__(self) -> None:
            self.n = 0

        async def get_access_token(self) -> str:
            self.n += 1
            return f"valid-vault-{self.n}"

    vault = Vault()
    async with mcpfleet.SSEClient(protected_sse, token_provider=vault) as client:
        assert (await client.call_tool("add", {"a": 1, "b": 2})).text == "3"
        assert (await client.call_tool("token", {})).text == f"valid-vault-{vault.n}"
    assert vault.n >= 3  # the GET stream, initialize, initialized, calls: each asked


async def test_rejected_token_raises_auth_required(protected_http):
    with pytest.raises(mcpfleet.AuthRequiredError) as e:
        await mcpfleet.DynamicAuthClient(protected_http, lambda: "expired-token").initialize()
    err = e.value
    assert isinstance(err, mcpfleet.AuthError) and err.status == 401
    assert err.resource_metadata_url.endswith("/.well-known/oauth-protected-resource/mcp") and err.has_valid_challenge()
    assert "expired-token" not in str(err)
    [bearer] = err.challenges
    assert bearer["scheme"] == "Bearer" and bearer["params"]["error"] == "invalid_token"


async def test_insufficient_scope_is_recognised(protected_http):
    with pytest.raises(mcpfleet.AuthRequiredError) as e:
        await mcpfleet.DynamicAuthClient(protected_http, lambda: "narrow-token").initialize()
    assert e.value.status == 403 and e.value.error == "insufficient_scope"
    assert e.value.error_description == "Required scope: mcp"  # this SDK names the scope only here


async def test_provider_failures_are_clear_errors(protected_http):
    mode = {"now": "ok"}

    async def provider():
        if mode["now"] == "raise":
            raise RuntimeError("vault is sealed")
        if mode["now"] == "hang":
            await asyncio.sleep(30)
        if mode["now"] == "int":
            return 42
        return "valid-1"

    async with mcpfleet.DynamicAuthClient(protected_http, provider, token_timeout=0.3) as client:
        mode["now"] = "raise"
        with pytest.raises(mcpfleet.TokenProviderError) as e:
            await client.call_tool("add", {"a": 1, "b": 1})
        assert "RuntimeError: vault is sealed" in str(e.value)
        assert isinstance(e.value.__cause__, RuntimeError) and str(e.value.__cause__) == "vault is sealed"
        mode["now"] = "hang"
        with pytest.raises(mcpfleet.TokenProviderError, match=r"no token within 0\.3s"):
            await client.call_tool("add", {"a": 1, "b": 1})
        mode["now"] = "int"
        with pytest.raises(mcpfleet.TokenProviderError, match="returned int, expected a str or None"):
            await client.call_tool("add", {"a": 1, "b": 1})
        # The failures cost only their own requests.
        mode["now"] = "ok"
        assert (await client.call_tool("add", {"a": 2, "b": 2})).text == "4"


async def test_provider_failure_at_connect_and_bad_provider(protected_sse):
    def broken():
        raise KeyError("no such secret")

    with pytest.raises(mcpfleet.TokenProviderError) as e:
        await mcpfleet.SSEClient(protected_sse, token_provider=broken).initialize()
    assert isinstance(e.value.__cause__, KeyError)
    with pytest.raises(TypeError, match="token_provider must be a callable"):
        mcpfleet.StreamableHTTPClient("http://127.0.0.1:1/mcp", token_provider="valid-static")


async def test_fleet_server_needing_auth_waits_in_auth_required_until_given_a_provider(protected_http, protected_sse):
    spec = {"name": "guarded", "type": "streamable-http", "url": protected_http, "autoStart": True, "restart": {"initialDelay": 0.05}}
    async with mcpfleet.Adapter([spec]) as fleet:
        info = fleet.get_mcp_server("guarded")
        assert info.state == "AuthRequired"
        assert info.auth_info["resource_metadata_url"].endswith("/.well-known/oauth-protected-resource/mcp")
        assert info.auth_info["url"] == protected_http
        await asyncio.sleep(0.3)
        assert fleet.get_mcp_server("guarded").state == "AuthRequired"  # no retry loop
        with pytest.raises(mcpfleet.ToolNotFoundError):  # never listed
            await fleet.execute_tool("guarded_add", {"a": 1, "b": 1})
        tokens = itertools.count(1)
        updated = await fleet.update("guarded", {**spec, "token_provider": lambda: f"valid-{next(tokens)}"})
        assert updated.state == "Connected" and updated.auth_info is None
        assert (await fleet.execute_tool("guarded_token", {})).text.startswith("valid-")
        # An update without a provider keeps the one the server has.
        await fleet.update("guarded", {**spec, "description": "still guarded"})
        assert (await fleet.execute_tool("guarded_add", {"a": 1, "b": 2})).text == "3"

    class Vault:
        async def get_access_token(self) -> str:
            return "valid-from-vault"

    servers = [mcpfleet.MCPServer(name="old", type="sse", url=protected_sse, auto_start=True, token_provider=Vault())]
    async with mcpfleet.Adapter(servers) as fleet:
        assert fleet.get_mcp_server("old").state == "Connected"
        assert (await fleet.execute_tool("old_token", {})).text == "valid-from-vault"
        assert "valid-from-vault" not in repr(servers[0]) + repr(fleet.get_mcp_server("old"))
    with pytest.raises(mcpfleet.ConfigError, match="token_provider is only for remote servers"):
        mcpfleet.Adapter([{"name": "local", "command": "true", "token_provider": lambda: "x"}])


async def test_fleet_providers_by_name_for_config_files(tmp_path, protected_http):
    path = tmp_path / "servers.yaml"
    path.write_text(f"name: web\ntype: streamable-http\nurl: {protected_http}\nautoStart: true\n")
    async with mcpfleet.Adapter.from_config(path, token_providers={"web": lambda: "valid-config"}) as fleet:
        assert (await fleet.execute_tool("web_token", {})).text == "valid-config"
