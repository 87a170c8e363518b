"""`mcpfleet serve --kubernetes` against a real kube-apiserver (v1.20 with etcd, started from
the shared test tooling as the tests do): how long from an MCPServer created to its tools being
callable through the gateway, for one stdio server and for many created at once, and how many
apiserver requests the fleet makes per change (it watches; it must not poll).

    python benches/kube.py [--rounds 10] [--many 200]

There is no peer to run beside it here (muster is Go, and its modules cannot be fetched), so
the figures are printed against the targets: under 1 s for one stdio server, and requests per
change bounded by the writes a change needs (its status) plus the Secret it names.
Not a test: timings on shared machines are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import yaml  # noqa: E402

import kube as kube_tools  # noqa: E402
import mcpfleet  # noqa: E402

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
NAMESPACE = "bench"
SERVERS = f"/apis/mcpfleet.dev/v1alpha1/namespaces/{NAMESPACE}/mcpservers"
TOKEN = "bench-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo(name: str, prefix: str) -> dict:
    spec = {"type": "stdio", "command": sys.executable, "args": ["-m", "mcpfleet.demo_server"], "autoStart": True, "toolPrefix": prefix}
    return {"apiVersion": "mcpfleet.dev/v1alpha1", "kind": "MCPServer", "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}


def apiserver_requests(kube: kube_tools.Kube) -> dict[tuple[str, str], float]:
    """apiserver_request_total summed by (verb, resource), from the apiserver's own metrics."""
    text = kube.request("GET", "/metrics", accept="text/plain")["text"]
    counts: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        key = (labels.get("verb", ""), labels.get("resource", "") + ("/" + labels["subresource"] if labels.get("subresource") else ""))
        counts[key] = counts.get(key, 0) + float(line.rsplit(" ", 1)[1])
    return counts


def difference(after: dict, before: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}


async def callable_within(client: mcpfleet.StreamableHTTPClient, tool: str, timeout: float = 120) -> float:
    """Seconds until `tool` answers through the gateway (tried every 10 ms)."""
    started = time.perf_counter()
    while True:
        try:
            await client.call_tool(tool, {"text": "x"}, timeout=5)
            return time.perf_counter() - started
        except mcpfleet.MCPFleetError:
            if time.perf_counter() - started > timeout:
                raise
            await asyncio.sleep(0.01)


async def bench(kube: kube_tools.Kube, rounds: int, many: int) -> None:
    for document in yaml.safe_load_all((DEPLOY / "crd.yaml").read_text()):
        kube.apply(document)
    kube_tools.wait_for(lambda: kube.request("GET", "/apis/mcpfleet.dev/v1alpha1/mcpservers"), what="the CRD")
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    port = free_port()
    log = tempfile.TemporaryFile()
    serve = subprocess.Popen(
        [sys.executable, "-m", "mcpfleet", "serve", "--kubernetes", "--namespace", NAMESPACE, "--kubeconfig", kube.kubeconfig, "--http", f"127.0.0.1:{port}"],
        env={**os.environ, "MCPFLEET_AUTH_TOKEN": TOKEN}, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
    )
    try:
        kube_tools.wait_for(lambda: kube_tools_http_ok(f"http://127.0.0.1:{port}/readyz"), what="the gateway ready")
        async with mcpfleet.StreamableHTTPClient(f"http://127.0.0.1:{port}/mcp", headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            # One server at a time: created, then callable.
            took = []
            for i in range(rounds):
                started = time.perf_counter()
                kube.request("POST", SERVERS, demo(f"eins-{i}", f"e{i}"))
                await callable_within(client, f"e{i}_echo")
                took.append(time.perf_counter() - started)
            median = statistics.median(took)
            print(f"one stdio server, created -> callable: median {median * 1000:.0f} ms, max {max(took) * 1000:.0f} ms over {rounds} "
                  f"(target < 1000 ms: {'met' if median < 1 else 'MISSED'})")

            # Requests the fleet makes for one change (a new description: the server restarts,
            # its status is written), counted by the apiserver, the bench's own PUT left out.
            # (v1.20 counts a GET of one custom resource as LIST: the bench reads before counting.)
            await asyncio.sleep(3)
            current = kube.request("GET", f"{SERVERS}/eins-0")
            current["spec"]["description"] = "geändert"
            before = apiserver_requests(kube)
            kube.request("PUT", f"{SERVERS}/eins-0", current)
            await asyncio.sleep(3)
            changed = difference(apiserver_requests(kube), before)
            changed.pop(("PUT", "mcpservers"), None)
            lease = {k: v for k, v in changed.items() if k[1] == "leases"}
            per_change = {k: v for k, v in changed.items() if k[1] != "leases"}
            print(f"apiserver requests for one change: {sum(per_change.values()):.0f} {dict(sorted(per_change.items()))}; "
                  f"Lease renewals in those 3 s: {sum(lease.values()):.0f}")
            await asyncio.sleep(3)
            before = apiserver_requests(kube)
            await asyncio.sleep(5)
            idle = difference(apiserver_requests(kube), before)
            print(f"apiserver requests in 5 idle seconds: {sum(v for k, v in idle.items() if k[1] != 'leases'):.0f} besides "
                  f"{sum(v for k, v in idle.items() if k[1] == 'leases'):.0f} for the Lease {dict(sorted(idle.items()))}")

            # Many at once.
            started = time.perf_counter()
            for i in range(many):
                kube.request("POST", SERVERS, demo(f"viele-{i}", f"v{i}"))
            created = time.perf_counter() - started
            await asyncio.gather(*(callable_within(client, f"v{i}_echo", timeout=600) for i in range(many)))
            from_cluster = time.perf_counter() - started
            print(f"{many} stdio servers created at once ({created:.1f} s to create them): all callable after {from_cluster:.1f} s")
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(60)
    from_file = await many_from_a_file(many)
    print(f"the same {many} written to a file `mcpfleet serve --watch` follows: all callable after {from_file:.1f} s "
          f"(the cluster takes {from_cluster / from_file:.2f}x as long)")


async def many_from_a_file(many: int) -> float:
    """The baseline: the same servers added by one edit of a watched configuration file."""
    folder = tempfile.mkdtemp(prefix="mcpfleet-bench-")
    config = Path(folder) / "servers.yaml"

    def write(count: int) -> None:
        demo = {"command": sys.executable, "args": ["-m", "mcpfleet.demo_server"], "autoStart": True}
        servers = {"basis": {**demo, "toolPrefix": "basis"}}
        servers.update({f"viele-{i}": {**demo, "toolPrefix": f"v{i}"} for i in range(count)})
        config.with_suffix(".tmp").write_text(yaml.safe_dump({"mcpServers": servers}))
        config.with_suffix(".tmp").rename(config)

    write(0)
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "mcpfleet", "serve", str(config), "--watch", "--http", f"127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        kube_tools.wait_for(lambda: kube_tools_http_ok(f"http://127.0.0.1:{port}/readyz"), what="the gateway ready")
        async with mcpfleet.StreamableHTTPClient(f"http://127.0.0.1:{port}/mcp") as client:
            await callable_within(client, "basis_echo")
            started = time.perf_counter()
            write(many)
            await asyncio.gather(*(callable_within(client, f"v{i}_echo", timeout=600) for i in range(many)))
            return time.perf_counter() - started
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(60)


def kube_tools_http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--many", type=int, default=200)
    args = parser.parse_args()
    why = kube_tools.unavailable()
    if why:
        sys.exit(f"no apiserver: {why}")
    kube = kube_tools.start((free_port(), free_port(), free_port()))
    try:
        asyncio.run(bench(kube, args.rounds, args.many))
    finally:
        kube_tools.stop(kube)


if __name__ == "__main__":
    main()
