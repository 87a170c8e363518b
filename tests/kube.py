"""A real kube-apiserver (v1.20, with etcd) for the tests, started by `start-apiserver.sh` from
the shared test tooling, and a small REST client for it (standard library only)."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def scripts_dir() -> Path | None:
    """Where build-apiserver.sh and start-apiserver.sh are: $MCPFLEET_KUBE_SCRIPTS, else the
    shared tooling next to the checkout."""
    for candidate in (os.environ.get("MCPFLEET_KUBE_SCRIPTS"), ROOT.parent / "shared" / "kube", "/work/shared/kube"):
        if candidate and (Path(candidate) / "start-apiserver.sh").exists():
            return Path(candidate)
    return None


def binaries_dir() -> Path:
    return Path(os.environ.get("MCPFLEET_KUBE_BIN") or Path.home() / ".cache" / "mcpfleet-kube" / "bin")


def unavailable() -> str | None:
    """Why no apiserver can be started here, or None."""
    if scripts_dir() is None:
        return "the kube-apiserver scripts are not found (set MCPFLEET_KUBE_SCRIPTS)"
    if not (binaries_dir() / "kube-apiserver").exists():
        return f"kube-apiserver is not built in {binaries_dir()} (run build-apiserver.sh; .ci/run does)"
    return None


class ApiError(Exception):
    def __init__(self, status: int, body: dict):
        self.status, self.body = status, body
        super().__init__(f"{status}: {body.get('message', body)}")


@dataclass
class Kube:
    server: str
    token: str
    reader_token: str
    ca: str
    kubeconfig: str
    state: Path

    def request(self, method: str, path: str, body: dict | None = None, *, token: str | None = None,
                content_type: str = "application/json", accept: str = "application/json", timeout: float = 30) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.token}")
        req.add_header("Accept", accept)
        if data is not None:
            req.add_header("Content-Type", content_type)
        context = ssl.create_default_context(cafile=self.ca)
        try:
            with urllib.request.urlopen(req, context=context, timeout=timeout) as response:
                raw = response.read() or b"{}"
                return json.loads(raw) if raw.lstrip()[:1] in (b"{", b"[") else {"text": raw.decode()}
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = {"message": raw.decode(errors="replace")}
            raise ApiError(e.code, parsed) from None

    def apply(self, document: dict, *, token: str | None = None) -> dict:
        """Creates the object, or replaces it if it exists (what `kubectl apply` does for these tests)."""
        path = collection_path(document)
        try:
            return self.request("POST", path, document, token=token)
        except ApiError as e:
            if e.status != 409:
                raise
        name = document["metadata"]["name"]
        current = self.request("GET", f"{path}/{name}", token=token)
        document = {**document, "metadata": {**document["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
        return self.request("PUT", f"{path}/{name}", document, token=token)


# Where each kind the tests apply lives: (API prefix, plural, namespaced).
KINDS = {
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    ("v1", "Namespace"): ("/api/v1", "namespaces", False),
    ("v1", "ServiceAccount"): ("/api/v1", "serviceaccounts", True),
    ("v1", "Secret"): ("/api/v1", "secrets", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    ("rbac.authorization.k8s.io/v1", "Role"): ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    ("mcpfleet.dev/v1alpha1", "MCPServer"): ("/apis/mcpfleet.dev/v1alpha1", "mcpservers", True),
    ("apps/v1", "Deployment"): ("/apis/apps/v1", "deployments", True),
    ("v1", "Service"): ("/api/v1", "services", True),
}


def collection_path(document: dict) -> str:
    prefix, plural, namespaced = KINDS[(document["apiVersion"], document["kind"])]
    if namespaced:
        return f"{prefix}/namespaces/{document['metadata'].get('namespace', 'default')}/{plural}"
    return f"{prefix}/{plural}"


def start(ports: tuple[int, int, int]) -> Kube:
    """Starts etcd and kube-apiserver on 127.0.0.1 (about 5 s); `stop(kube)` ends them."""
    state = Path(tempfile.mkdtemp(prefix="mcpfleet-kube-"))
    env = {**os.environ, "K8S_BIN": str(binaries_dir()), "K8S_DIR": str(state),
           "ETCD_PORT": str(ports[0]), "ETCD_PEER_PORT": str(ports[1]), "APISERVER_PORT": str(ports[2])}
    done = subprocess.run(["bash", str(scripts_dir() / "start-apiserver.sh"), "start"], env=env, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"start-apiserver.sh failed ({done.returncode}): {done.stderr[-2000:]}")
    return Kube(
        server=f"https://127.0.0.1:{ports[2]}",
        token=(state / "admin.token").read_text(),
        reader_token=(state / "reader.token").read_text(),
        ca=str(state / "ca.crt"),
        kubeconfig=str(state / "kubeconfig"),
        state=state,
    )


def apiserver_argv(kube: Kube) -> list[str]:
    """The running kube-apiserver's command line."""
    pid = int((kube.state / "apiserver.pid").read_text())
    return [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")]


def kill_apiserver(kube: Kube) -> list[str]:
    """Kills the kube-apiserver (etcd and its data stay); its command line, to start it again."""
    pid = int((kube.state / "apiserver.pid").read_text())
    argv = apiserver_argv(kube)
    os.kill(pid, 9)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return argv


def start_apiserver(kube: Kube, argv: list[str], port: int | None = None) -> subprocess.Popen:
    """Starts a kube-apiserver with `argv` (on `port` instead, for a second one on the same
    etcd) and waits until it is ready."""
    if port is not None:
        given = list(argv)
        argv = []
        for i, a in enumerate(given):
            if a.startswith("--secure-port="):
                a = f"--secure-port={port}"
            elif i > 0 and given[i - 1] == "--secure-port":
                a = str(port)
            argv.append(a)
    log = open(kube.state / ("apiserver.log" if port is None else f"apiserver-{port}.log"), "ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    if port is None:
        (kube.state / "apiserver.pid").write_text(str(proc.pid))
        server = kube.server
    else:
        server = f"https://127.0.0.1:{port}"
    other = Kube(server=server, token=kube.token, reader_token=kube.reader_token, ca=kube.ca, kubeconfig=kube.kubeconfig, state=kube.state)
    wait_for(lambda: other.request("GET", "/readyz", accept="*/*", timeout=2) is not None, timeout=60, what="the started apiserver")
    return proc


def restart_apiserver(kube: Kube, down_for: float = 2.0) -> None:
    """Kills the kube-apiserver (etcd and its data stay), waits, and starts it again with the
    same command line, as a crashed or upgraded apiserver comes back."""
    argv = kill_apiserver(kube)
    time.sleep(down_for)
    start_apiserver(kube, argv)


def stop(kube: Kube) -> None:
    env = {**os.environ, "K8S_DIR": str(kube.state)}
    subprocess.run(["bash", str(scripts_dir() / "start-apiserver.sh"), "stop"], env=env, capture_output=True, timeout=60)


def wait_for(check, timeout: float = 30, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except (ApiError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not hold within {timeout}s")
        time.sleep(0.1)
