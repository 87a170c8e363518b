"""TLS options against the SDK's server behind uvicorn TLS, with certificates made here
(trustme): a private CA, mTLS, the insecure switch; for clients and fleet servers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import mcpfleet
from conftest import FIXTURES, PY, free_port, start_server, stop

import trustme
TLS_SERVER = str(FIXTURES / "tls_server.py")


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@mcpfleet.test")
    files = {"ca": d / "ca.pem", "cert": d / "server.pem", "key": d / "server.key", "client_cert": d / "client.pem", "client_key": d / "client.key"}
    ca.cert_pem.write_to_path(files["ca"])
    server.cert_chain_pems[0].write_to_path(files["cert"])
    server.private_key_pem.write_to_path(files["key"])
    for blob in client.cert_chain_pems:
        blob.write_to_path(files["client_cert"], append=True)
    client.private_key_pem.write_to_path(files["client_key"])
    return files


def _serve(pki: dict[str, Path], mtls: bool) -> Iterator[str]:
    port = free_port()
    argv = [PY, TLS_SERVER, str(port), str(pki["cert"]), str(pki["key"])] + ([str(pki["ca"])] if mtls else [])
    proc = start_server(argv, port)
    yield f"https://127.0.0.1:{port}/mcp"
    stop(proc)


@pytest.fixture
def tls_url(pki) -> Iterator[str]:
    yield from _serve(pki, mtls=False)


@pytest.fixture
def mtls_url(pki) -> Iterator[str]:
    yield from _serve(pki, mtls=True)


async def test_private_ca_and_insecure_switch(tls_url, pki, caplog):
    with pytest.raises(mcpfleet.ServerStartError, match="(?i)certificate"):
        await mcpfleet.StreamableHTTPClient(tls_url).initialize()
    async with mcpfleet.StreamableHTTPClient(tls_url, ca_bundle=pki["ca"]) as client:
        assert (await client.call_tool("add", {"a": 1, "b": 2})).text == "3"
    caplog.set_level(logging.WARNING, logger="mcpfleet")
    async with mcpfleet.StreamableHTTPClient(tls_url, insecure=True) as client:
        assert (await client.call_tool("add", {"a": 2, "b": 2})).text == "4"
    assert any("verification is disabled" in r.getMessage() for r in caplog.records)


async def test_client_certificate(mtls_url, pki):
    with pytest.raises(mcpfleet.MCPFleetError):
        await mcpfleet.StreamableHTTPClient(mtls_url, ca_bundle=pki["ca"]).initialize()
    client = mcpfleet.StreamableHTTPClient(mtls_url, ca_bundle=pki["ca"], client_cert=pki["client_cert"], client_key=pki["client_key"])
    async with client:
        assert (await client.call_tool("add", {"a": 3, "b": 4})).text == "7"
    with pytest.raises(mcpfleet.ConfigError, match="client certificate"):
        await mcpfleet.StreamableHTTPClient(mtls_url, client_cert=pki["ca"], client_key=pki["ca"]).initialize()


async def test_fleet_servers_take_tls_options(mtls_url, tls_url, pki):
    servers = [
        {"name": "m", "type": "streamable-http", "url": mtls_url, "autoStart": True,
         "tls": {"caBundle": str(pki["ca"]), "clientCert": str(pki["client_cert"]), "clientKey": str(pki["client_key"])}},
        mcpfleet.MCPServer(name="i", type="streamable-http", url=tls_url, auto_start=True, tls={"insecure": True}),
        {"name": "plain", "type": "streamable-http", "url": tls_url, "autoStart": True, "restart": {"enabled": False}},
    ]
    async with mcpfleet.Adapter(servers) as fleet:
        assert (await fleet.execute_tool("m_add", {"a": 1, "b": 1})).text == "2"
        assert (await fleet.execute_tool("i_add", {"a": 1, "b": 2})).text == "3"
        plain = fleet.get_mcp_server("plain")
        assert plain.state == "Failed" and "certificate" in plain.last_error.lower()
        assert fleet.get_mcp_server("m").definition["tls"]["clientCert"] == str(pki["client_cert"])
    problems = mcpfleet.Adapter().validate({"name": "x", "command": "true", "tls": {"insecure": "yes", "caFile": "a"}})
    assert any("tls field is only allowed when type is streamable-http or sse" in p for p in problems)
    problems = mcpfleet.Adapter().validate({"name": "x", "type": "sse", "url": "https://h/sse", "tls": {"insecure": "yes", "caBundel": "a"}})
    assert any("tls.insecure" in p and "expected true or false" in p for p in problems), problems
    assert any("caBundel" in p and "caBundle" in p for p in problems), problems
