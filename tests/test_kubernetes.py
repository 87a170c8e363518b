"""The manifests in deploy/ against a real kube-apiserver: the CRD's schema enforces what
mcpfleet's validation enforces, its status subresource and printer columns work, and the RBAC
rules grant what `mcpfleet serve --kubernetes` needs, and no more."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kube import ApiError, wait_for

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SERVERS = "/apis/mcpfleet.dev/v1alpha1/namespaces/default/mcpservers"


def documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


@pytest.fixture(scope="module")
def crd(kube):
    (definition,) = documents("crd.yaml")
    kube.apply(definition)
    path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{definition['metadata']['name']}"

    def established():
        conditions = kube.request("GET", path).get("status", {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    wait_for(established, what="the MCPServer CRD being established")
    # Discovery of the new group lags behind Established a little.
    wait_for(lambda: kube.request("GET", SERVERS), what="the mcpservers endpoint")
    return definition


def server(name: str, **spec) -> dict:
    return {"apiVersion": "mcpfleet.dev/v1alpha1", "kind": "MCPServer", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def test_the_crd_takes_what_mcpfleet_reads_and_refuses_what_it_refuses(kube, crd):
    good = server(
        "wetter",
        type="stdio", command="uvx", args=["mcp-server-time", "--local-timezone=Europe/Zürich"],
        env={"TZ": "Europe/Zürich"}, toolPrefix="wetter", description="Das Wetter ☂ (für alle)",
        autoStart=True, timeout=30, initTimeout=12.5, pingInterval=0, restart={"enabled": True, "maxRestarts": 3},
        tools={"deny": ["delete_*"]},
    )
    created = kube.request("POST", SERVERS, good)
    assert created["spec"]["env"] == {"TZ": "Europe/Zürich"} and created["metadata"]["generation"] == 1
    remote = server("remote", type="streamable-http", url="https://mcp.example.com/mcp",
                    auth={"type": "oauth", "grant": "client_credentials",
                          "clientCredentialsSecretRef": {"name": "oauth-client", "clientIdKey": "id"}})
    kube.request("POST", SERVERS, remote)

    refusals = [
        (server("bad-type", type="ftp", url="ftp://x"), "spec.type"),
        (server("bad-prefix", type="stdio", command="x", toolPrefix="9lives"), "spec.toolPrefix"),
        (server("bad-timeout", type="stdio", command="x", timeout=301), "spec.timeout"),
        (server("empty-url", type="sse", url=""), "spec.url"),
        (server("long", type="stdio", command="x", description="x" * 501), "spec.description"),
        (server("no-secret-name", type="sse", url="http://h/sse", auth={"type": "oauth", "clientCredentialsSecretRef": {}}),
         "spec.auth.clientCredentialsSecretRef.name"),
        ({**server("no-spec", type="stdio"), "spec": None}, "spec"),
    ]
    for document, field in refusals:
        with pytest.raises(ApiError) as refused:
            kube.request("POST", SERVERS, document)
        assert refused.value.status == 422, refused.value.body
        assert field in refused.value.body["message"], (field, refused.value.body["message"])


def test_status_is_a_subresource_with_printer_columns(kube, crd):
    kube.request("POST", SERVERS, server("columns", type="stdio", command="python3"))
    status = {"state": "Running", "toolCount": 3, "restartCount": 1, "observedGeneration": 1,
              "lastConnected": "2026-12-02T16:00:00Z",
              "conditions": [{"type": "Ready", "status": "True", "reason": "Connected", "message": "3 tools",
                              "lastTransitionTime": "2026-12-02T16:00:00Z", "observedGeneration": 1}]}
    current = kube.request("GET", f"{SERVERS}/columns")
    # Status written on the resource itself is ignored; through /status it is kept.
    kube.request("PUT", f"{SERVERS}/columns", {**current, "status": status})
    assert "status" not in kube.request("GET", f"{SERVERS}/columns")
    current = kube.request("GET", f"{SERVERS}/columns")
    kube.request("PUT", f"{SERVERS}/columns/status", {**current, "status": status})
    after = kube.request("GET", f"{SERVERS}/columns")
    assert after["status"] == status and after["metadata"]["generation"] == 1

    table = kube.request("GET", f"{SERVERS}/columns", accept="application/json;as=Table;v=v1;g=meta.k8s.io")
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns == ["Name", "Type", "State", "Tools", "Age"], columns
    assert table["rows"][0]["cells"][:4] == ["columns", "stdio", "Running", 3]

    with pytest.raises(ApiError) as refused:
        kube.request("PATCH", f"{SERVERS}/columns/status", {"status": {"conditions": [{"type": "Ready", "status": "Maybe"}]}},
                     content_type="application/merge-patch+json")
    assert refused.value.status == 422 and "status.conditions" in refused.value.body["message"]


def test_the_rbac_rules_grant_what_the_gateway_needs_and_no_more(kube, crd):
    reader = kube.reader_token
    with pytest.raises(ApiError) as refused:
        kube.request("GET", SERVERS, token=reader)
    assert refused.value.status == 403
    assert 'cannot list resource "mcpservers" in API group "mcpfleet.dev"' in refused.value.body["message"]

    for document in documents("rbac.yaml"):
        kube.apply(document)
    # The test's reader gets the gateway's role in one namespace, as a namespaced install would.
    kube.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "reader-is-mcpfleet", "namespace": "default"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "mcpfleet"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "reader"}]})
    kube.request("POST", SERVERS, server("rbac-check", type="stdio", command="true"))

    listed = wait_for(lambda: kube.request("GET", SERVERS, token=reader), what="the reader's access")
    assert "rbac-check" in [item["metadata"]["name"] for item in listed["items"]]
    current = kube.request("GET", f"{SERVERS}/rbac-check", token=reader)
    kube.request("PUT", f"{SERVERS}/rbac-check/status", {**current, "status": {"state": "Starting"}}, token=reader)
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "oauth-client", "namespace": "default"},
                "stringData": {"client-id": "fleet", "client-secret": "s3cret"}})
    assert kube.request("GET", "/api/v1/namespaces/default/secrets/oauth-client", token=reader)["data"]["client-id"]
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "mcpfleet-status", "namespace": "default"},
             "spec": {"holderIdentity": "replica-1", "leaseDurationSeconds": 15}}
    kube.request("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", lease, token=reader)

    # Not granted: changing the definitions, listing Secrets, anything in another namespace.
    for method, path, body in [
        ("DELETE", f"{SERVERS}/rbac-check", None),
        ("PUT", f"{SERVERS}/rbac-check", current),
        ("GET", "/api/v1/namespaces/default/secrets", None),
        ("GET", "/apis/mcpfleet.dev/v1alpha1/namespaces/kube-system/mcpservers", None),
    ]:
        with pytest.raises(ApiError) as refused:
            kube.request(method, path, body, token=reader)
        assert refused.value.status == 403, (method, path)


async def wait_until(check, timeout: float = 20, what: str = "the fleet to follow"):
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{what} within {timeout}s")
        await asyncio.sleep(0.05)


def demo(name: str, namespace: str, prefix: str, **extra) -> dict:
    """The built-in server as an MCPServer resource."""
    import sys

    spec = {"type": "stdio", "command": sys.executable, "args": ["-m", "mcpfleet.demo_server"], "autoStart": True, "toolPrefix": prefix, **extra}
    return {"apiVersion": "mcpfleet.dev/v1alpha1", "kind": "MCPServer", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


@pytest.fixture
def namespace(kube, crd, request):
    """A namespace of the test's own (the names carry the test's)."""
    import re

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-")
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


async def test_the_fleet_follows_the_clusters_resources(kube, namespace):
    import mcpfleet

    servers = f"/apis/mcpfleet.dev/v1alpha1/namespaces/{namespace}/mcpservers"
    kube.request("POST", servers, demo("wetter", namespace, "w", description="Das Wetter ☂"))
    kube.request("POST", servers, {**demo("broken", namespace, "b"), "spec": {"type": "stdio", "command": "x", "url": "http://nope"}})
    async with mcpfleet.Adapter.from_kubernetes(namespace, kubeconfig=kube.kubeconfig) as fleet:
        # Listed and started; the invalid resource is left out and stops nothing.
        names = {s.name for s in fleet.list_mcp_servers()}
        assert names == {"wetter"}, names
        await wait_until(lambda: any(t.name.startswith("w_") for t in fleet.get_tools()))
        assert (await fleet.execute_tool("w_echo", {"text": "grüezi"})).text == "grüezi"
        pid = next(s for s in fleet.list_mcp_servers() if s.name == "wetter").pid

        # Added.
        kube.request("POST", servers, demo("zwei", namespace, "z"))
        await wait_until(lambda: any(t.name.startswith("z_") for t in fleet.get_tools()), what="the added server's tools")

        # A change that does not matter (a label) restarts nothing; a new prefix restarts it.
        current = kube.request("GET", f"{servers}/wetter")
        current["metadata"].setdefault("labels", {})["team"] = "wetter"
        kube.request("PUT", f"{servers}/wetter", current)
        current = kube.request("GET", f"{servers}/zwei")
        current["spec"]["toolPrefix"] = "zz"
        kube.request("PUT", f"{servers}/zwei", current)
        await wait_until(lambda: any(t.name.startswith("zz_") for t in fleet.get_tools()), what="the changed prefix")
        assert next(s for s in fleet.list_mcp_servers() if s.name == "wetter").pid == pid

        # Deleted.
        kube.request("DELETE", f"{servers}/zwei")
        await wait_until(lambda: {s.name for s in fleet.list_mcp_servers()} == {"wetter"}, what="the deleted server gone")
    # Leaving the fleet stops the watch and the servers (the autouse check counts them).


async def test_a_refused_list_names_what_the_rbac_rules_lack(kube, crd):
    import mcpfleet

    reader_config = kube.state / "reader.kubeconfig"
    text = Path(kube.kubeconfig).read_text().replace(kube.token, kube.reader_token)
    assert text != Path(kube.kubeconfig).read_text()
    reader_config.write_text(text)
    with pytest.raises(mcpfleet.ConfigError, match=r'403.*RBAC rules lack verb "list" on resource "mcpservers" in API group "mcpfleet.dev"'):
        async with mcpfleet.Adapter.from_kubernetes("kube-system", kubeconfig=reader_config):
            pass


def test_a_fleet_of_the_cluster_takes_no_other_servers():
    import mcpfleet

    with pytest.raises(mcpfleet.ConfigError, match="from the cluster only"):
        mcpfleet.Adapter([{"name": "x", "command": "true"}], kubernetes={"namespace": "default"})
    with pytest.raises(mcpfleet.ConfigError, match="unknown option"):
        mcpfleet.Adapter(kubernetes={"namspace": "default"})


async def test_a_restarted_apiserver_leaves_the_servers_up_and_the_watch_resumes(kube, namespace):
    import asyncio

    import mcpfleet
    from kube import restart_apiserver

    servers = f"/apis/mcpfleet.dev/v1alpha1/namespaces/{namespace}/mcpservers"
    kube.request("POST", servers, demo("bleibt", namespace, "bl"))
    async with mcpfleet.Adapter.from_kubernetes(namespace, kubeconfig=kube.kubeconfig) as fleet:
        await wait_until(lambda: any(t.name.startswith("bl_") for t in fleet.get_tools()))
        pid = fleet.list_mcp_servers()[0].pid
        await asyncio.to_thread(restart_apiserver, kube)
        # Up all along, and still the same process.
        assert (await fleet.execute_tool("bl_echo", {"text": "noch da"})).text == "noch da"
        assert fleet.list_mcp_servers()[0].pid == pid
        # Changes made after the restart are followed.
        kube.request("POST", servers, demo("neu", namespace, "neu"))
        await wait_until(lambda: any(t.name.startswith("neu_") for t in fleet.get_tools()), timeout=60, what="a server added after the restart")
        assert next(s for s in fleet.list_mcp_servers() if s.name == "bleibt").pid == pid


def test_the_example_deployment_is_accepted_and_runs_what_the_cli_has(kube, crd):
    """deploy/deployment.yaml: the apiserver takes it, its ServiceAccount is rbac.yaml's, its
    probes are the paths the front serves, and its arguments are ones `mcpfleet serve` takes."""
    from mcpfleet import cli

    for document in documents("rbac.yaml"):
        kube.apply(document)
    deployment, service = documents("deployment.yaml")
    for document in (deployment, service):
        kube.apply(document)
    stored = kube.request("GET", "/apis/apps/v1/namespaces/mcpfleet/deployments/mcpfleet")
    pod = stored["spec"]["template"]["spec"]
    (account,) = [d for d in documents("rbac.yaml") if d["kind"] == "ServiceAccount"]
    assert (pod["serviceAccountName"], stored["metadata"]["namespace"]) == (account["metadata"]["name"], account["metadata"]["namespace"])
    (container,) = pod["containers"]
    assert (container["livenessProbe"]["httpGet"]["path"], container["readinessProbe"]["httpGet"]["path"]) == ("/healthz", "/readyz")
    args = cli._parser().parse_args(container["args"])
    assert args.kubernetes and args.http == "0.0.0.0:8000" and args.auth_token_file == "/var/run/mcpfleet/token"
    assert args.drain_timeout < pod["terminationGracePeriodSeconds"]
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]


def status_of(kube, namespace: str, name: str) -> dict:
    return kube.request("GET", f"/apis/mcpfleet.dev/v1alpha1/namespaces/{namespace}/mcpservers/{name}").get("status") or {}


def ready_condition(status: dict) -> dict:
    return next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})


async def wait_for_status(kube, namespace: str, name: str, check, timeout: float = 20, what: str = "the status"):
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await asyncio.to_thread(status_of, kube, namespace, name)
        if check(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{what} of {namespace}/{name} within {timeout}s; last: {status}")
        await asyncio.sleep(0.1)


async def test_each_resource_shows_its_servers_state_in_its_status(kube, namespace):
    import asyncio
    import os
    import signal
    import sys

    import mcpfleet

    servers = f"/apis/mcpfleet.dev/v1alpha1/namespaces/{namespace}/mcpservers"
    kube.request("POST", servers, demo("wetter", namespace, "w", restart={"enabled": True, "initialDelay": 0.2}))
    kube.request("POST", servers, {**demo("kaputt", namespace, "k"), "spec": {"type": "stdio", "command": "x", "url": "http://nope"}})
    crash = "import sys; sys.stderr.write('Absturz: die Konfiguration fehlt\\n'); sys.exit(3)"
    kube.request("POST", servers, demo("absturz", namespace, "a", command=sys.executable, args=["-c", crash],
                                       restart={"enabled": True, "initialDelay": 0.1, "maxRestarts": 2}))
    async with mcpfleet.Adapter.from_kubernetes(namespace, kubeconfig=kube.kubeconfig, lease_duration=3) as fleet:
        up = await wait_for_status(kube, namespace, "wetter", lambda s: s.get("state") == "Running" and s.get("toolCount"))
        assert up["toolCount"] == len([t for t in fleet.get_tools() if t.name.startswith("w_")]) > 0
        assert up["observedGeneration"] == 1 and up["restartCount"] == 0 and "lastError" not in up
        assert up["lastConnected"].endswith("Z")
        ready = ready_condition(up)
        assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("True", "Running", 1)

        # An invalid resource: its problems, with the field, and not ready.
        bad = await wait_for_status(kube, namespace, "kaputt", lambda s: s.get("state") == "Invalid")
        assert "spec.url" in bad["lastError"] and bad["restartCount"] == 0
        assert (ready_condition(bad)["status"], ready_condition(bad)["reason"]) == ("False", "InvalidSpec")

        # A server that keeps crashing: its restarts and its last words.
        crashed = await wait_for_status(kube, namespace, "absturz", lambda s: s.get("restartCount", 0) >= 2 and s.get("state") in ("Failed", "CrashLoop"),
                                        what="the crashing server's status")
        assert "Absturz" in crashed["lastError"] or "exit" in crashed["lastError"], crashed
        assert ready_condition(crashed)["status"] == "False"

        # Killed, restarted: counted, connected again.
        pid = next(s for s in fleet.list_mcp_servers() if s.name == "wetter").pid
        os.kill(pid, signal.SIGKILL)
        again = await wait_for_status(kube, namespace, "wetter", lambda s: s.get("restartCount") == 1 and s.get("state") == "Running",
                                      what="the restarted server's status")
        assert again["lastConnected"] >= up["lastConnected"]
        assert ready_condition(again)["status"] == "True"

        # A changed spec: the generation it describes.
        current = kube.request("GET", f"{servers}/wetter")
        current["spec"]["description"] = "Das Wetter, neu ☂"
        kube.request("PUT", f"{servers}/wetter", current)
        await wait_for_status(kube, namespace, "wetter", lambda s: s.get("observedGeneration") == 2 and s.get("state") == "Running")

        # Nothing happens, nothing is written.
        await asyncio.sleep(0.5)
        before = kube.request("GET", f"{servers}/wetter")["metadata"]["resourceVersion"]
        await asyncio.sleep(1.5)
        assert kube.request("GET", f"{servers}/wetter")["metadata"]["resourceVersion"] == before


def oauth_resource(name: str, namespace: str, url: str, prefix: str, secret_ref: dict) -> dict:
    spec = {"type": "streamable-http", "url": url, "autoStart": True, "toolPrefix": prefix,
            "auth": {"type": "oauth", "grant": "client_credentials", "clientCredentialsSecretRef": secret_ref}}
    return {"apiVersion": "mcpfleet.dev/v1alpha1", "kind": "MCPServer", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def secret(name: str, namespace: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}, "stringData": data}


async def test_client_credentials_come_from_a_secret(kube, namespace, oauth_peer_factory, caplog):
    import json
    import logging

    import mcpfleet

    client_secret = "s3cr3t-aus-dem-Secret-9f8e7d"
    peer = oauth_peer_factory(client_credentials=("flotte-client", client_secret))
    mcpfleet._core._set_log_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    servers = f"/apis/mcpfleet.dev/v1alpha1/namespaces/{namespace}/mcpservers"
    kube.apply(secret("oauth-client", namespace, **{"client-id": "flotte-client", "client-secret": client_secret}))
    kube.apply(secret("andere-keys", namespace, id="flotte-client", passwort=client_secret))
    kube.apply(secret("oauth-client", "default", **{"client-id": "flotte-client", "client-secret": client_secret}))
    resources = [
        oauth_resource("mit-secret", namespace, peer.url, "cc", {"name": "oauth-client"}),
        oauth_resource("eigene-keys", namespace, peer.url, "ek", {"name": "andere-keys", "clientIdKey": "id", "clientSecretKey": "passwort"}),
        oauth_resource("fehlt", namespace, peer.url, "f", {"name": "kommt-spaeter"}),
        oauth_resource("falscher-key", namespace, peer.url, "fk", {"name": "oauth-client", "clientSecretKey": "passwort"}),
        oauth_resource("fremd", namespace, peer.url, "fr", {"name": "oauth-client", "namespace": "default"}),
    ]
    for resource in resources:
        kube.request("POST", servers, resource)
    async with mcpfleet.Adapter.from_kubernetes(namespace, kubeconfig=kube.kubeconfig) as fleet:
        await wait_until(lambda: {"cc_token", "ek_token"} <= {t.name for t in fleet.get_tools()}, what="the OAuth servers' tools")
        assert (await fleet.execute_tool("cc_token", {})).text.startswith("at-")
        assert (await fleet.execute_tool("ek_token", {})).text.startswith("at-")
        assert peer.stats()["client_credentials"] >= 2

        missing = await wait_for_status(kube, namespace, "fehlt", lambda s: s.get("state") == "Failed")
        assert f'the Secret {namespace}/kommt-spaeter does not exist' in missing["lastError"]
        assert ready_condition(missing)["reason"] == "SecretUnavailable"
        wrong_key = await wait_for_status(kube, namespace, "falscher-key", lambda s: s.get("state") == "Failed")
        assert 'has no key "passwort" (its keys: client-id, client-secret)' in wrong_key["lastError"]
        elsewhere = await wait_for_status(kube, namespace, "fremd", lambda s: s.get("state") == "Failed")
        assert "another namespace" in elsewhere["lastError"] and "cross_namespace_secrets" in elsewhere["lastError"]
        assert {s.name for s in fleet.list_mcp_servers()} == {"mit-secret", "eigene-keys"}

        # The Secret arrives later: the resource is read again and its server starts.
        kube.apply(secret("kommt-spaeter", namespace, **{"client-id": "flotte-client", "client-secret": client_secret}))
        await wait_until(lambda: "f_token" in {t.name for t in fleet.get_tools()}, timeout=30, what="the server whose Secret came later")
        await wait_for_status(kube, namespace, "fehlt", lambda s: s.get("state") == "Connected")

        shown = [repr(fleet.get_mcp_server("mit-secret")), json.dumps(fleet.get_mcp_server("mit-secret").definition),
                 json.dumps([status_of(kube, namespace, r["metadata"]["name"]) for r in resources])]
        assert fleet.get_mcp_server("mit-secret").definition["auth"]["clientCredentialsSecretRef"]["name"] == "oauth-client"
    for text in [*shown, caplog.text]:
        assert client_secret not in text


async def test_a_reader_without_access_to_secrets_gets_a_clear_status(kube, namespace, oauth_peer_factory):
    import mcpfleet

    rules = [
        {"apiGroups": ["mcpfleet.dev"], "resources": ["mcpservers"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["mcpfleet.dev"], "resources": ["mcpservers/status"], "verbs": ["get", "update", "patch"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
    ]
    kube.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "ohne-secrets", "namespace": namespace}, "rules": rules})
    kube.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "reader-ohne-secrets", "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ohne-secrets"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "reader"}]})
    reader_config = kube.state / f"reader-{namespace}.kubeconfig"
    reader_config.write_text(Path(kube.kubeconfig).read_text().replace(kube.token, kube.reader_token))
    servers = f"/apis/mcpfleet.dev/v1alpha1/namespaces/{namespace}/mcpservers"
    kube.apply(secret("oauth-client", namespace, **{"client-id": "c", "client-secret": "s3cr3t-unlesbar"}))
    kube.request("POST", servers, oauth_resource("geschuetzt", namespace, "http://127.0.0.1:9/mcp", "g", {"name": "oauth-client"}))
    kube.request("POST", servers, demo("offen", namespace, "o"))
    wait_for(lambda: kube.request("GET", servers, token=kube.reader_token), what="the reader's access")
    async with mcpfleet.Adapter.from_kubernetes(namespace, kubeconfig=reader_config) as fleet:
        refused = await wait_for_status(kube, namespace, "geschuetzt", lambda s: s.get("state") == "Failed")
        assert f'the apiserver refused to get the Secret {namespace}/oauth-client (403): the RBAC rules lack verb "get" on resource "secrets"' in refused["lastError"]
        await wait_for_status(kube, namespace, "offen", lambda s: s.get("state") == "Running")
        assert [s.name for s in fleet.list_mcp_servers()] == ["offen"]


def lease_holder(kube, namespace: str) -> str:
    lease = kube.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/mcpfleet")
    return lease["spec"].get("holderIdentity") or ""


def http_get(url: str, token: str | None = None) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def test_replicas_serve_the_fleet_and_one_writes_status_until_it_dies(kube, namespace, tmp_path):
    """`mcpfleet serve --kubernetes` twice, as a Deployment's two pods: both serve every server,
    the Lease's holder writes status; killed, the other takes over; SIGTERM drains."""
    import asyncio
    import os
    import signal
    import subprocess
    import sys
    import threading

    import mcpfleet
    from conftest import free_port

    servers = f"/apis/mcpfleet.dev/v1alpha1/namespaces/{namespace}/mcpservers"
    kube.request("POST", servers, demo("wetter", namespace, "w"))
    token_file = tmp_path / "token"
    token_file.write_text("flotten-token-1234\n")
    replicas = {}
    for name in ("replica-a", "replica-b"):
        port = free_port()
        log = open(tmp_path / f"{name}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "mcpfleet", "serve", "--kubernetes", "--namespace", namespace, "--kubeconfig", kube.kubeconfig,
             "--http", f"127.0.0.1:{port}", "--auth-token-file", str(token_file), "--lease-duration", "3", "--drain-timeout", "10"],
            env={**os.environ, "POD_NAME": name}, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
        replicas[name] = (proc, f"http://127.0.0.1:{port}")
    try:
        for name, (proc, base) in replicas.items():
            wait_for(lambda: http_get(f"{base}/healthz") == (200, "ok"), what=f"{name} alive")
            wait_for(lambda: http_get(f"{base}/readyz")[0] == 200, what=f"{name} ready")
            async with mcpfleet.StreamableHTTPClient(f"{base}/mcp", headers={"Authorization": "Bearer flotten-token-1234"}) as client:
                for _ in range(100):
                    if any(t.name == "w_echo" for t in await client.list_tools()):
                        break
                    await asyncio.sleep(0.1)
                assert (await client.call_tool("w_echo", {"text": f"hallo {name}"})).text == f"hallo {name}"
        await wait_for_status(kube, namespace, "wetter", lambda s: s.get("state") == "Running")
        holder = wait_for(lambda: lease_holder(kube, namespace), what="a Lease holder")
        leader = next(n for n in replicas if holder.startswith(n + "_"))
        other = next(n for n in replicas if n != leader)

        # Metrics: per tool, per server, and which replica writes.
        status, text = http_get(f"{replicas[leader][1]}/metrics", "flotten-token-1234")
        assert status == 200, text
        assert 'mcpfleet_tool_calls_total{server="wetter",tool="w_echo"} 1' in text
        assert 'mcpfleet_tool_call_duration_seconds_count{server="wetter",tool="w_echo"} 1' in text
        assert 'mcpfleet_server_up{server="wetter"} 1' in text and "mcpfleet_kubernetes_status_writer 1" in text
        assert "mcpfleet_kubernetes_status_writer 0" in http_get(f"{replicas[other][1]}/metrics", "flotten-token-1234")[1]
        assert http_get(f"{replicas[leader][1]}/metrics")[0] == 401

        # The leader dies without a word; the other takes the Lease and writes the next change.
        os.killpg(replicas[leader][0].pid, signal.SIGKILL)
        replicas[leader][0].wait(10)
        current = kube.request("GET", f"{servers}/wetter")
        current["spec"]["description"] = "nach dem Ausfall"
        kube.request("PUT", f"{servers}/wetter", current)
        await wait_for_status(kube, namespace, "wetter", lambda s: s.get("observedGeneration") == 2 and s.get("state") == "Running",
                              timeout=30, what="the status written by the replica that took over")
        assert lease_holder(kube, namespace).startswith(other + "_")

        # SIGTERM: not ready at once, the call in flight finishes, the Lease is given up.
        proc, base = replicas[other]
        result = {}

        async def slow_call():
            async with mcpfleet.StreamableHTTPClient(f"{base}/mcp", headers={"Authorization": "Bearer flotten-token-1234"}) as client:
                result["text"] = (await client.call_tool("w_sleep", {"seconds": 2})).text

        call = asyncio.create_task(slow_call())
        await asyncio.sleep(0.8)
        os.kill(proc.pid, signal.SIGTERM)
        await asyncio.sleep(0.3)
        assert http_get(f"{base}/readyz")[0] == 503
        await asyncio.wait_for(call, 15)
        assert "text" in result
        assert await asyncio.to_thread(proc.wait, 20) == 0
        assert lease_holder(kube, namespace) == ""
    finally:
        for proc, _ in replicas.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        for name in replicas:
            print(name, (tmp_path / f"{name}.log").read_text(errors="replace")[-3000:])


async def test_a_gap_in_the_watch_is_closed_by_a_relist(kube, namespace, caplog):
    """The fleet's apiserver is gone while the resources change through another one (same
    etcd); when it is back, the watch's resource version is too old for its new cache (410):
    the watch lists again and the fleet converges, unchanged servers untouched."""
    import asyncio
    import logging

    import mcpfleet
    from kube import Kube, apiserver_argv, kill_apiserver, start_apiserver
    from conftest import free_port

    caplog.set_level(logging.INFO)
    servers = f"/apis/mcpfleet.dev/v1alpha1/namespaces/{namespace}/mcpservers"
    for name, prefix in [("bleibt", "bl"), ("geht", "g"), ("aendert", "ae")]:
        kube.request("POST", servers, demo(name, namespace, prefix))
    async with mcpfleet.Adapter.from_kubernetes(namespace, kubeconfig=kube.kubeconfig, write_status=False) as fleet:
        await wait_until(lambda: {"bl_echo", "g_echo", "ae_echo"} <= {t.name for t in fleet.get_tools()})
        pid = next(s for s in fleet.list_mcp_servers() if s.name == "bleibt").pid

        port = free_port()
        other = await asyncio.to_thread(start_apiserver, kube, apiserver_argv(kube), port)
        try:
            elsewhere = Kube(server=f"https://127.0.0.1:{port}", token=kube.token, reader_token=kube.reader_token, ca=kube.ca, kubeconfig=kube.kubeconfig, state=kube.state)
            argv = await asyncio.to_thread(kill_apiserver, kube)
            elsewhere.request("DELETE", f"{servers}/geht")
            current = elsewhere.request("GET", f"{servers}/aendert")
            current["spec"]["toolPrefix"] = "ae2"
            elsewhere.request("PUT", f"{servers}/aendert", current)
            elsewhere.request("POST", servers, demo("neu", namespace, "n"))
            # Enough other changes that the old resource version is far behind.
            for i in range(5):
                elsewhere.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"fuellung-{i}", "namespace": namespace}, "stringData": {"i": str(i)}})
            await asyncio.to_thread(start_apiserver, kube, argv)
        finally:
            other.kill()
            other.wait(10)
        await wait_until(lambda: {s.name for s in fleet.list_mcp_servers()} == {"bleibt", "aendert", "neu"}, timeout=60, what="the fleet converged after the gap")
        await wait_until(lambda: {"bl_echo", "ae2_echo", "n_echo"} <= {t.name for t in fleet.get_tools()}, what="the converged tools")
        assert next(s for s in fleet.list_mcp_servers() if s.name == "bleibt").pid == pid
    assert "resource version expired (410" in caplog.text


async def test_a_slow_server_does_not_hold_up_the_others(kube, namespace):
    """Starting servers happens beside the watch: a server that takes seconds to start does not
    delay one created after it."""
    import sys
    import time

    import mcpfleet

    servers = f"/apis/mcpfleet.dev/v1alpha1/namespaces/{namespace}/mcpservers"
    async with mcpfleet.Adapter.from_kubernetes(namespace, kubeconfig=kube.kubeconfig) as fleet:
        slow = f"import time, runpy; time.sleep(6); runpy.run_module('mcpfleet.demo_server', run_name='__main__')"
        kube.request("POST", servers, demo("langsam", namespace, "l", command=sys.executable, args=["-c", slow], initTimeout=20))
        await wait_until(lambda: any(s.name == "langsam" for s in fleet.list_mcp_servers()), what="the slow server registered")
        started = time.monotonic()
        kube.request("POST", servers, demo("schnell", namespace, "s"))
        await wait_until(lambda: "s_echo" in {t.name for t in fleet.get_tools()}, what="the quick server's tools")
        assert time.monotonic() - started < 4
        assert "l_echo" not in {t.name for t in fleet.get_tools()}
        await wait_until(lambda: "l_echo" in {t.name for t in fleet.get_tools()}, timeout=30, what="the slow server's tools")
