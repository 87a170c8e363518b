"""mcpfleet's StreamableHTTPClient against the floor for sequential calls from Python: a
blocking `http.client` keep-alive loop that posts `tools/call` in the session and reads the
reply (JSON or one SSE event) with the standard library, nothing else. Same run, same server
(the built-in one with `--http`), calls alternating in short rounds. Prints calls/s and CPU
per call (this process, all threads) and the ratio of the two CPU figures.

    python benches/http_client.py [--calls 4000]

Not a test: timings on shared machines are noisy; compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time

import mcpfleet

ARGS = {"text": "hello"}
ROUNDS = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class StdlibClient:
    """The least a Python client can do per call: one keep-alive connection, a preformatted
    request, the reply's JSON parsed."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port)
        self.headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        init = {
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "stdlib", "version": "0"}},
        }
        response = self.post(init)
        self.headers["Mcp-Session-Id"] = response.getheader("Mcp-Session-Id")
        self.headers["Mcp-Protocol-Version"] = "2025-11-25"
        self.read(response)
        self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}).read()
        self.next_id = 1

    def post(self, message: dict) -> http.client.HTTPResponse:
        self.conn.request("POST", "/mcp", json.dumps(message), self.headers)
        return self.conn.getresponse()

    @staticmethod
    def read(response: http.client.HTTPResponse) -> dict:
        body = response.read()
        if response.getheader("Content-Type", "").startswith("text/event-stream"):
            body = b"".join(line[5:] for line in body.split(b"\n") if line.startswith(b"data:"))
        return json.loads(body)

    def call(self, name: str, arguments: dict) -> dict:
        self.next_id += 1
        # Only the id changes: the rest of the body is formatted once per call site.
        body = b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"%s","arguments":%s}}' % (
            self.next_id, name.encode(), json.dumps(arguments).encode())
        self.conn.request("POST", "/mcp", body, self.headers)
        return self.read(self.conn.getresponse())["result"]


def stdlib_round(client: StdlibClient, calls: int) -> tuple[float, float]:
    c0, t0 = cpu(), time.perf_counter()
    for _ in range(calls):
        result = client.call("echo", ARGS)
    assert result["content"][0]["text"] == "hello", result
    return time.perf_counter() - t0, cpu() - c0


async def fleet_round(client: mcpfleet.StreamableHTTPClient, calls: int) -> tuple[float, float]:
    c0, t0 = cpu(), time.perf_counter()
    for _ in range(calls):
        result = await client.call_tool("echo", ARGS)
    assert result.text == "hello", result
    return time.perf_counter() - t0, cpu() - c0


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=4000)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mcpfleet.demo_server", "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        stdlib = StdlibClient(port)
        fleet = mcpfleet.StreamableHTTPClient(f"http://127.0.0.1:{port}/mcp")
        await fleet.initialize()
        stdlib_round(stdlib, 300)
        await fleet_round(fleet, 300)
        per_round = max(args.calls // ROUNDS, 50)
        totals = {"stdlib": [0.0, 0.0], "mcpfleet": [0.0, 0.0]}
        for _ in range(ROUNDS):
            for name, elapsed_cpu in (("stdlib", stdlib_round(stdlib, per_round)), ("mcpfleet", await fleet_round(fleet, per_round))):
                totals[name][0] += elapsed_cpu[0]
                totals[name][1] += elapsed_cpu[1]
        await fleet.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
    n = per_round * ROUNDS
    print(f"{'':40}{'calls/s':>10}{'CPU µs/call':>14}")
    for name, (elapsed, used) in totals.items():
        label = "http.client keep-alive loop (floor)" if name == "stdlib" else "mcpfleet StreamableHTTPClient"
        print(f"{label:40}{n / elapsed:>10.0f}{used / n * 1e6:>14.0f}")
    print(f"CPU per call, mcpfleet / floor: {totals['mcpfleet'][1] / totals['stdlib'][1]:.2f}x (target <= 1.1x)")


if __name__ == "__main__":
    asyncio.run(main())
