"""OAuth flows against a real authorization server: the official Python SDK's
`auth_server_provider` (tests/fixtures/oauth_server.py), which is also the protected MCP server.
The suite's own scenarios are in test_conformance.py; these cover what it does not: refresh
before expiry, refresh after a 401, refresh after a process restart from the stored refresh
token, the token stores, and that no token, code or secret reaches a log, repr or error."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import subprocess
import textwrap

import pytest

import mcpfleet
from conftest import PY, ROOT, headless_authorize


def login_oauth(**kwargs) -> mcpfleet.OAuth:
    return mcpfleet.OAuth(authorize=headless_authorize, **kwargs)


async def test_login_then_tokens_refresh_before_they_expire(oauth_peer_factory):
    peer = oauth_peer_factory(access_ttl=6)
    async with mcpfleet.StreamableHTTPClient(peer.url, auth=login_oauth()) as client:
        first = (await client.call_tool("token", {})).text
        assert first.startswith("at-")
        # rmcp refreshes once less than min(30 s, ttl / 2) remain (whole seconds): here after
        # 3 to 4 s; the token itself is good for at least 5.
        await asyncio.sleep(4.2)
        second = (await client.call_tool("token", {})).text
    stats = peer.stats()
    assert second.startswith("at-") and second != first
    assert stats["authorization_code"] == 1 and stats["refresh_token"] == 1
    # The refresh came first: the server never saw the old token after it expired.
    assert stats["rejected"] == 0


async def test_a_rejected_token_is_refreshed_once_and_the_request_retried(oauth_peer_factory):
    peer = oauth_peer_factory()
    async with mcpfleet.StreamableHTTPClient(peer.url, auth=login_oauth()) as client:
        first = (await client.call_tool("token", {})).text
        peer.revoke_access_tokens()
        second = (await client.call_tool("token", {})).text
        assert second != first
        stats = peer.stats()
        assert stats["refresh_token"] == 1 and stats["authorization_code"] == 1
        assert stats["rejected"] >= 1


async def test_a_login_nobody_finishes_times_out(oauth_peer_factory, caplog):
    peer = oauth_peer_factory()
    client = mcpfleet.StreamableHTTPClient(peer.url, auth=mcpfleet.OAuth(open_browser=False, login_timeout=0.5))
    with pytest.raises(mcpfleet.OAuthError, match=r"login did not finish within 0.5s"):
        await client.initialize()
    # The user was shown where to go: the authorization URL, with PKCE S256 and the resource.
    shown = [r.getMessage() for r in caplog.records if "open this URL" in r.getMessage()]
    assert shown and "code_challenge_method=S256" in shown[0] and "resource=" in shown[0]


async def test_authorize_callback_errors_chain_the_exception(oauth_peer_factory):
    peer = oauth_peer_factory()

    async def refuse(url: str) -> str:
        raise PermissionError("the user said no")

    client = mcpfleet.StreamableHTTPClient(peer.url, auth=mcpfleet.OAuth(authorize=refuse))
    with pytest.raises(mcpfleet.OAuthError, match="the user said no") as caught:
        await client.initialize()
    assert isinstance(caught.value.__cause__, PermissionError)


RESTART_CLIENT = textwrap.dedent(
    """
    import asyncio, sys
    import mcpfleet
    sys.path.insert(0, {tests!r})
    from conftest import headless_authorize

    def no_login(url):
        raise RuntimeError("asked the user to log in again")

    async def main(url, store, mode):
        auth = mcpfleet.OAuth(store=mcpfleet.FileTokenStore(store), authorize=headless_authorize if mode == "login" else no_login)
        async with mcpfleet.StreamableHTTPClient(url, auth=auth) as client:
            print((await client.call_tool("token", {{}})).text)

    asyncio.run(main(*sys.argv[1:]))
    """
)


def test_a_restarted_process_refreshes_from_the_file_store(oauth_peer_factory, tmp_path):
    peer = oauth_peer_factory(access_ttl=2)
    script = tmp_path / "client.py"
    script.write_text(RESTART_CLIENT.format(tests=str(ROOT / "tests")))
    store = tmp_path / "tokens" / "server.json"

    def run(mode: str) -> str:
        out = subprocess.run([PY, str(script), peer.url, str(store), mode], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    first = run("login")
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
    record = json.loads(store.read_text())
    assert record["version"] == 1 and record["expires_at"] == record["token_received_at"] + 2
    assert record["token_response"]["refresh_token"].startswith("rt-")
    # The stored access token has expired: a new process must refresh, not ask the user.
    import time

    time.sleep(2.2)
    second = run("no-login")
    assert second.startswith("at-") and second != first
    stats = peer.stats()
    assert stats["authorization_code"] == 1 and stats["refresh_token"] == 1
    assert json.loads(store.read_text())["token_response"]["access_token"] == second


class DictStore:
    """A token store as a user writes one: async load/save, sync clear."""

    def __init__(self, record=None) -> None:
        self.record = record
        self.saves = 0

    async def load(self):
        return self.record

    async def save(self, record) -> None:
        self.record = record
        self.saves += 1

    def clear(self) -> None:
        self.record = None


async def test_a_python_store_keeps_tokens_for_the_next_client(oauth_peer_factory):
    peer = oauth_peer_factory()
    store = DictStore()
    async with mcpfleet.StreamableHTTPClient(peer.url, auth=login_oauth(store=store)) as client:
        first = (await client.call_tool("token", {})).text
    assert store.saves == 1 and store.record["token_response"]["access_token"] == first

    def no_login(url):
        raise AssertionError("the stored token should have been used")

    async with mcpfleet.StreamableHTTPClient(peer.url, auth=mcpfleet.OAuth(store=store, authorize=no_login)) as client:
        assert (await client.call_tool("token", {})).text == first
    assert peer.stats()["authorization_code"] == 1


async def test_a_broken_python_store_is_an_oauth_error(oauth_peer_factory):
    peer = oauth_peer_factory()

    class Broken(DictStore):
        def load(self):
            return ["not", "a", "record"]

    client = mcpfleet.StreamableHTTPClient(peer.url, auth=login_oauth(store=Broken()))
    with pytest.raises(mcpfleet.OAuthError, match=r"load\(\) returned list, expected a dict or None"):
        await client.initialize()


def test_oauth_arguments_are_checked():
    with pytest.raises(ValueError, match="needs a client ID and a client secret"):
        mcpfleet.OAuth(grant="client_credentials", client_id="c")
    with pytest.raises(ValueError, match="grant must be"):
        mcpfleet.OAuth(grant="password")
    with pytest.raises(ValueError, match='credentials has no "client-id" key'):
        mcpfleet.OAuth(credentials={"id": "x"})
    with pytest.raises(ValueError, match="must be an https URL"):
        mcpfleet.OAuth(client_metadata_url="http://example.com/meta.json")
    with pytest.raises(TypeError, match="store must be"):
        mcpfleet.OAuth(store=42)
    with pytest.raises(mcpfleet.ConfigError, match="not both"):
        mcpfleet.StreamableHTTPClient("http://127.0.0.1:1/mcp", token_provider=lambda: "t", auth=mcpfleet.OAuth())
    secret = mcpfleet.OAuth(credentials={mcpfleet.DEFAULT_CLIENT_ID_KEY: "cid", mcpfleet.DEFAULT_CLIENT_SECRET_KEY: b"s3cr3t-value"})
    assert secret.client_id == "cid" and "s3cr3t-value" not in repr(secret)


async def test_no_token_code_or_secret_reaches_logs_reprs_or_errors(oauth_peer_factory, caplog):
    peer = oauth_peer_factory(access_ttl=2)
    store = DictStore()
    mcpfleet._core._set_log_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    try:
        auth = login_oauth(store=store, client_secret=None)
        async with mcpfleet.StreamableHTTPClient(peer.url, auth=auth) as client:
            await client.call_tool("token", {})
            peer.revoke_access_tokens()
            await client.call_tool("token", {})
            await asyncio.sleep(1.2)
            await client.call_tool("token", {})
            shown += [repr(client), repr(auth)]
        revoked = mcpfleet.StreamableHTTPClient(peer.url, auth=mcpfleet.OAuth(open_browser=False, login_timeout=0.3))
        with pytest.raises(mcpfleet.MCPFleetError) as caught:
            await revoked.initialize()
        shown.append(str(caught.value))
        await asyncio.sleep(0.3)  # the forwarding thread delivers the last records
    finally:
        mcpfleet._core._set_log_level(logging.INFO)
    stats = peer.stats()
    assert stats["refresh_token"] >= 1
    secrets = stats["secrets"]
    assert len(secrets) >= 5
    text = "\n".join(shown + [r.getMessage() for r in caplog.records])
    assert any(r.name.startswith("mcpfleet") for r in caplog.records)
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"leaked: {leaked}"


async def test_a_fleet_server_waits_in_auth_required_until_login_and_keeps_its_tokens(oauth_peer_factory, tmp_path):
    peer = oauth_peer_factory()
    store = tmp_path / "guarded.json"
    spec = {"name": "guarded", "type": "streamable-http", "url": peer.url, "autoStart": True, "auth": {"type": "oauth", "tokenStore": str(store), "scopes": "mcp"}}
    async with mcpfleet.Adapter([spec]) as fleet:
        info = fleet.get_mcp_server("guarded")
        assert info.state == "AuthRequired" and info.auth_info["url"] == peer.url
        assert info.definition["auth"] == {"type": "oauth", "grant": "authorization_code", "scopes": ["mcp"], "tokenStore": str(store)}
        info = await fleet.login("guarded", authorize=headless_authorize)
        assert info.state == "Connected"
        first = (await fleet.execute_tool("guarded_token", {})).text
        assert first.startswith("at-")
        # An update that leaves auth alone keeps the tokens: no new login.
        await fleet.update("guarded", {**spec, "description": "changed"})
        assert fleet.get_mcp_server("guarded").state == "Connected"
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
    # A new fleet (a restarted program) uses the stored token.
    async with mcpfleet.Adapter([spec]) as fleet:
        assert fleet.get_mcp_server("guarded").state == "Connected"
        assert (await fleet.execute_tool("guarded_token", {})).text == first
        await fleet.logout("guarded")
    assert not store.exists()
    assert peer.stats()["authorization_code"] == 1


def test_oauth_definitions_are_validated():
    fleet = mcpfleet.Adapter()
    base = {"name": "x", "type": "streamable-http", "url": "http://127.0.0.1:1/mcp"}
    problems = fleet.validate({**base, "auth": {"type": "oauth", "grant": "client_credentials", "clientId": "c"}})
    assert any("needs clientId and clientSecret" in p for p in problems), problems
    problems = fleet.validate({**base, "auth": {"type": "oauth", "scope": "a"}})
    assert any("auth.scope" in p and "scopes" in p for p in problems), problems
    problems = fleet.validate({"name": "s", "type": "stdio", "command": "x", "auth": {"type": "oauth"}})
    assert any("only supported for remote" in p for p in problems), problems
    assert fleet.validate({**base, "auth": {"type": "oauth", "grant": "client_credentials", "credentialsFile": "/secret.yaml"}}) == []


def test_a_secret_ref_is_read_only_by_a_fleet_of_a_cluster():
    fleet = mcpfleet.Adapter()
    base = {"name": "x", "type": "streamable-http", "url": "http://127.0.0.1:1/mcp", "autoStart": False}
    ref = {"type": "oauth", "grant": "client_credentials", "clientCredentialsSecretRef": {"name": "oauth-client", "clientSecretKey": "pw"}}
    assert fleet.validate({**base, "auth": ref}) == []
    problems = fleet.validate({**base, "auth": {**ref, "clientSecret": "s3cr3t-daneben"}})
    assert any("takes the place of clientSecret" in p for p in problems), problems
    problems = fleet.validate({**base, "auth": {**ref, "clientCredentialsSecretRef": {"nam": "x"}}})
    assert any("clientCredentialsSecretRef.nam" in p and "name" in p for p in problems), problems
    with pytest.raises(mcpfleet.ConfigError, match=r'server `x`: auth: clientCredentialsSecretRef names the Kubernetes Secret "oauth-client", which only a fleet that follows a cluster reads'):
        mcpfleet.Adapter([{**base, "auth": ref}])


async def test_fleet_client_credentials_from_a_credentials_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    spec = {"name": "cc", "type": "streamable-http", "url": "http://127.0.0.1:1/mcp", "autoStart": False,
            "auth": {"type": "oauth", "grant": "client_credentials", "credentialsFile": str(missing)}}
    with pytest.raises(mcpfleet.ConfigError, match=r"server `cc`: auth: cannot read .*nope.yaml"):
        mcpfleet.Adapter([spec])
    secret = tmp_path / "secret.yaml"
    secret.write_text("data:\n  client-id: Y2xpZW50LTE=\n  client-secret: czNjcjN0\n")
    fleet = mcpfleet.Adapter([{**spec, "auth": {**spec["auth"], "credentialsFile": str(secret)}}])
    assert fleet.get_mcp_server("cc").definition["auth"]["grant"] == "client_credentials"
    assert "s3cr3t" not in repr(fleet.get_mcp_server("cc"))
