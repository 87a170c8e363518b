"""`mcpfleet.sync` against the async API on the built-in server over stdio: calls per second
from 1 and 8 threads (sync) and with 1 and 8 calls in flight (async), same run.

    python benches/sync_facade.py [--calls 4000]

Not a test: timings on shared machines are noisy; compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time

import mcpfleet
from mcpfleet import sync

DEMO = [sys.executable, "-m", "mcpfleet.demo_server"]
ARGS = {"text": "hello"}


def sync_rate(calls: int, threads: int) -> float:
    with sync.StdioClient(DEMO[0], DEMO[1:]) as client:
        for _ in range(50):
            client.call_tool("echo", ARGS)
        per_thread = calls // threads

        def work() -> None:
            for _ in range(per_thread):
                client.call_tool("echo", ARGS)

        workers = [threading.Thread(target=work) for _ in range(threads)]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return per_thread * threads / (time.perf_counter() - t0)


async def async_rate(calls: int, in_flight: int) -> float:
    async with mcpfleet.StdioClient(DEMO[0], DEMO[1:]) as client:
        for _ in range(50):
            await client.call_tool("echo", ARGS)
        per_task = calls // in_flight

        async def work() -> None:
            for _ in range(per_task):
                await client.call_tool("echo", ARGS)

        t0 = time.perf_counter()
        await asyncio.gather(*(work() for _ in range(in_flight)))
        return per_task * in_flight / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=4000)
    args = parser.parse_args()
    print(f"{'':28}{'sync':>10}{'async':>10}   sync/async")
    for n in (1, 8):
        s = sync_rate(args.calls, n)
        a = asyncio.run(async_rate(args.calls, n))
        print(f"calls/s, {n} thread(s)/in flight{'':1}{s:>10.0f}{a:>10.0f}   {s / a:>6.2f}x")


if __name__ == "__main__":
    main()
