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
