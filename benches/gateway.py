"""The fleet served over HTTP (`mcpfleet serve --http`) against FastMCP's proxy (`create_proxy` over
the same backend) and against calling the backend directly, same run, same backend (the
built-in server over streamable HTTP), same load client (mcpfleet's StreamableHTTPClient, so
the servers' cost is what differs). Also the RSS of `mcpfleet serve` with 20 idle stdio servers.

    pip install fastmcp   # the peer
    python benches/gateway.py [--calls 2000] [--clients 16]

Not a test: timings on shared machines are noisy; compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

import mcpfleet

PY = sys.executable
ARGS = {"text": "hello"}

FASTMCP_PROXY = """
import sys
from fastmcp.server import create_proxy
proxy = create_proxy({"mcpServers": {"demo": {"url": sys.argv[1], "transport": "http"}}}, name="proxy")
proxy.run(transport="http", host="127.0.0.1", port=int(sys.argv[2]), show_banner=False, log_level="WARNING")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{argv[:4]} did not listen on {port}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def rate(url: str, tool: str, calls: int, clients: int) -> tuple[float, float]:
    """(calls per second, mean seconds per call) with `clients` connections calling in a loop."""
    conns = [mcpfleet.StreamableHTTPClient(url, timeout=30) for _ in range(clients)]
    for c in conns:
        await c.initialize()
    for c in conns:
        for _ in range(20):
            await c.call_tool(tool, ARGS)
    per_client = calls // clients

    async def loop(c) -> None:
        for _ in range(per_client):
            r = await c.call_tool(tool, ARGS)
            assert r.text == "hello", r

    t0 = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in conns))
    elapsed = time.perf_counter() - t0
    for c in conns:
        await c.close()
    n = per_client * clients
    return n / elapsed, elapsed / per_client


async def added_latency(direct_url: str, gateway_url: str, calls: int) -> dict[str, float]:
    """Seconds the gateway adds per call: each call is timed on its own, direct and gateway
    calls alternate one by one (so a noisy neighbour hurts both sides alike), and the figure
    is the difference of the two sides' median (and 90th percentile) call latency."""
    direct = mcpfleet.StreamableHTTPClient(direct_url, timeout=30)
    gateway = mcpfleet.StreamableHTTPClient(gateway_url, timeout=30)
    for c in (direct, gateway):
        await c.initialize()
    pairs = ((direct, "echo"), (gateway, "demo_echo"))
    for c, tool in pairs:
        for _ in range(200):
            await c.call_tool(tool, ARGS)
    times: tuple[list[float], list[float]] = ([], [])
    clock = time.perf_counter
    for _ in range(calls):
        for side, (c, tool) in enumerate(pairs):
            t0 = clock()
            await c.call_tool(tool, ARGS)
            times[side].append(clock() - t0)
    for c in (direct, gateway):
        await c.close()
    direct_times, gateway_times = (sorted(t) for t in times)

    def at(q: float, t: list[float]) -> float:
        return t[int(q * (len(t) - 1))]

    return {
        "direct_p50": at(0.5, direct_times),
        "p50": at(0.5, gateway_times) - at(0.5, direct_times),
        "p90": at(0.9, gateway_times) - at(0.9, direct_times),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()

    backend_port, gateway_port, proxy_port = free_port(), free_port(), free_port()
    backend_url = f"http://127.0.0.1:{backend_port}/mcp"
    tmp = tempfile.mkdtemp()
    cfg = os.path.join(tmp, "fleet.yaml")
    with open(cfg, "w") as f:
        f.write(f"name: demo\ntype: streamable-http\nurl: {backend_url}\nautoStart: true\npingInterval: 0\n")
    idle = os.path.join(tmp, "idle.yaml")
    with open(idle, "w") as f:
        f.write("\n---\n".join(textwrap.dedent(f"""
            name: s{i:02d}
            command: {PY}
            args: [-m, mcpfleet.demo_server]
            autoStart: true
        """) for i in range(20)))

    procs = [start([PY, "-m", "mcpfleet.demo_server", "--http", str(backend_port)], backend_port)]
    try:
        procs.append(start([PY, "-m", "mcpfleet", "serve", cfg, "--http", str(gateway_port)], gateway_port))
        gateway_url = f"http://127.0.0.1:{gateway_port}/mcp"
        try:
            procs.append(start([PY, "-c", FASTMCP_PROXY, backend_url, str(proxy_port)], proxy_port))
            proxy_url = f"http://127.0.0.1:{proxy_port}/mcp"
        except (RuntimeError, OSError) as e:
            print(f"FastMCP proxy not measured: {e} (pip install fastmcp)")
            proxy_url = None
        # the gateway publishes the backend's tools once it is connected
        probe = mcpfleet.StreamableHTTPClient(gateway_url)
        await probe.initialize()
        for _ in range(200):
            if any(t.name == "demo_echo" for t in await probe.list_tools()):
                break
            await asyncio.sleep(0.05)
        await probe.close()

        proxy_tool = "echo"
        if proxy_url:
            # FastMCP names a single server's tools without a prefix.
            c = mcpfleet.StreamableHTTPClient(proxy_url)
            await c.initialize()
            proxy_tool = next(t.name for t in await c.list_tools() if t.name.endswith("echo"))
            await c.close()
        rows = []
        for clients in (1, args.clients):
            calls = args.calls if clients > 1 else args.calls // 2
            direct = await rate(backend_url, "echo", calls, clients)
            gateway = await rate(gateway_url, "demo_echo", calls, clients)
            proxy = await rate(proxy_url, proxy_tool, max(calls // 10, clients * 5), clients) if proxy_url else (float("nan"), float("nan"))
            rows.append((clients, direct, gateway, proxy))
        added = await added_latency(backend_url, gateway_url, calls=max(args.calls, 500))
    finally:
        for p in procs:
            stop(p)

    idle_port = free_port()
    idle_proc = start([PY, "-m", "mcpfleet", "serve", idle, "--http", str(idle_port)], idle_port)
    try:
        c = mcpfleet.StreamableHTTPClient(f"http://127.0.0.1:{idle_port}/mcp")
        await c.initialize()
        for _ in range(400):
            if len([t for t in await c.list_tools() if t.name.endswith("_echo")]) == 20:
                break
            await asyncio.sleep(0.05)
        await c.close()
        await asyncio.sleep(1)
        idle_rss = rss_mib(idle_proc.pid)
    finally:
        stop(idle_proc)

    print(f"{'':34}{'direct':>10}{'mcpfleet':>10}{'FastMCP':>10}   mcpfleet/FastMCP")
    for clients, direct, gateway, proxy in rows:
        print(f"calls/s, {clients:>2} client(s){'':16}{direct[0]:>10.0f}{gateway[0]:>10.0f}{proxy[0]:>10.0f}   {gateway[0] / proxy[0]:>6.1f}x")
    print(
        f"added latency per call (1 client): {added['p50'] * 1e6:.0f} µs at the median, {added['p90'] * 1e6:.0f} µs at p90"
        f" (direct call median {added['direct_p50'] * 1e6:.0f} µs; calls timed one by one, alternating)"
    )
    print(f"RSS of `mcpfleet serve` with 20 idle stdio servers: {idle_rss:.1f} MiB")
    print("targets: >= 10x FastMCP's proxy; <= 150 µs added per call; < 30 MiB with 20 idle servers")


if __name__ == "__main__":
    asyncio.run(main())
