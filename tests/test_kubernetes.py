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
