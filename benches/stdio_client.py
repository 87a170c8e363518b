"""mcpfleet's StdioClient against the official `mcp` SDK client, same run, same server (the
built-in native one, so the clients' own cost dominates). Prints figures and ratios.

    python benches/stdio_client.py [--calls 2000] [--concurrent-calls 4000] [--starts 5]

Not a test: timings on shared machines are noisy; compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

import mcpfleet

SERVER = [sys.executable, "-m", "mcpfleet.demo_server"]
ARGS = {"text": "hello"}


async def fleet_run(calls: int, concurrent_calls: int, starts: int) -> dict[str, float]:
    start_times = []
    for _ in range(starts):
        t0 = time.perf_counter()
        client = mcpfleet.StdioClient(SERVER[0], SERVER[1:])
        await client.initialize()
        start_times.append(time.perf_counter() - t0)
        await client.close()
    async with mcpfleet.StdioClient(SERVER[0], SERVER[1:]) as client:
        for _ in range(200):  # warm up
            await client.call_tool("echo", ARGS)
        t0 = time.perf_counter()
        for _ in range(calls):
            await client.call_tool("echo", ARGS)
        sequential = calls / (time.perf_counter() - t0)
        concurrent = await in_flight(lambda: client.call_tool("echo", ARGS), concurrent_calls)
    return {"start": statistics.median(start_times), "sequential": sequential, "concurrent": concurrent}


async def sdk_run(calls: int, concurrent_calls: int, starts: int) -> dict[str, float]:
    from contextlib import AsyncExitStack

    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=SERVER[0], args=SERVER[1:])
    start_times = []
    for _ in range(starts):
        t0 = time.perf_counter()
        async with AsyncExitStack() as stack:
            read, write = await stack.enter_async_context(stdio_client(params))
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            start_times.append(time.perf_counter() - t0)
    async with AsyncExitStack() as stack:
        read, write = await stack.enter_async_context(stdio_client(params))
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        for _ in range(200):
            await session.call_tool("echo", ARGS)
        t0 = time.perf_counter()
        for _ in range(calls):
            await session.call_tool("echo", ARGS)
        sequential = calls / (time.perf_counter() - t0)
        concurrent = await in_flight(lambda: session.call_tool("echo", ARGS), concurrent_calls)
    return {"start": statistics.median(start_times), "sequential": sequential, "concurrent": concurrent}


async def in_flight(call, total: int, width: int = 16) -> float:
    """Calls per second with `width` calls always in flight."""
    remaining = total

    async def worker():
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    return total / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrent-calls", type=int, default=4000)
    parser.add_argument("--starts", type=int, default=5)
    a = parser.parse_args()
    fleet = asyncio.run(fleet_run(a.calls, a.concurrent_calls, a.starts))
    sdk = asyncio.run(sdk_run(a.calls, a.concurrent_calls, a.starts))
    print(f"{'':34}{'mcpfleet':>12}{'mcp SDK':>12}{'ratio':>9}")
    print(f"{'sequential tools/call per second':34}{fleet['sequential']:12.0f}{sdk['sequential']:12.0f}{fleet['sequential'] / sdk['sequential']:8.1f}x")
    print(f"{'calls/s with 16 in flight':34}{fleet['concurrent']:12.0f}{sdk['concurrent']:12.0f}{fleet['concurrent'] / sdk['concurrent']:8.1f}x")
    print(f"{'start + initialize (median, ms)':34}{fleet['start'] * 1000:12.1f}{sdk['start'] * 1000:12.1f}{sdk['start'] / fleet['start']:8.1f}x faster")
    print("targets: sequential >= 5x, 16 in flight >= 10x")


if __name__ == "__main__":
    main()
