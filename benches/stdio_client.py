"""mcpfleet's StdioClient against the official `mcp` SDK client, same run, same server (the
built-in native one, so the clients' own cost dominates). Both clients stay open in one event
loop and their measurements alternate in short rounds, so a noisy neighbour slows both alike;
the figures are medians over the rounds. Prints calls/s and the ratios.

    python benches/stdio_client.py [--calls 2000] [--concurrent-calls 4000] [--rounds 7] [--starts 5]

Not a test: timings on shared machines are noisy; compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from contextlib import AsyncExitStack

import mcpfleet

SERVER = [sys.executable, "-m", "mcpfleet.demo_server"]
ARGS = {"text": "hello"}


async def fleet_start() -> float:
    t0 = time.perf_counter()
    client = mcpfleet.StdioClient(SERVER[0], SERVER[1:])
    await client.initialize()
    elapsed = time.perf_counter() - t0
    await client.close()
    return elapsed


async def sdk_session(stack: AsyncExitStack):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    read, write = await stack.enter_async_context(stdio_client(StdioServerParameters(command=SERVER[0], args=SERVER[1:])))
    session = await stack.enter_async_context(ClientSession(read, write))
    await session.initialize()
    return session


async def sdk_start() -> float:
    t0 = time.perf_counter()
    async with AsyncExitStack() as stack:
        await sdk_session(stack)
        return time.perf_counter() - t0


async def sequential(call, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        await call()
    return calls / (time.perf_counter() - t0)


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


async def run(calls: int, concurrent_calls: int, rounds: int, starts: int) -> dict[str, dict[str, float]]:
    figures = {name: {"sequential": [], "concurrent": [], "start": []} for name in ("mcpfleet", "sdk")}
    for _ in range(starts):
        figures["mcpfleet"]["start"].append(await fleet_start())
        figures["sdk"]["start"].append(await sdk_start())
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(mcpfleet.StdioClient(SERVER[0], SERVER[1:]))
        session = await sdk_session(stack)
        contenders = {"mcpfleet": lambda: client.call_tool("echo", ARGS), "sdk": lambda: session.call_tool("echo", ARGS)}
        for call in contenders.values():
            for _ in range(200):  # warm up
                await call()
        per_round = max(1, calls // rounds), max(16, concurrent_calls // rounds)
        for _ in range(rounds):
            for name, call in contenders.items():
                figures[name]["sequential"].append(await sequential(call, per_round[0]))
                figures[name]["concurrent"].append(await in_flight(call, per_round[1]))
    return {name: {k: statistics.median(v) for k, v in f.items()} for name, f in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrent-calls", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--starts", type=int, default=5)
    a = parser.parse_args()
    f = asyncio.run(run(a.calls, a.concurrent_calls, a.rounds, a.starts))
    fleet, sdk = f["mcpfleet"], f["sdk"]
    print(f"{'':34}{'mcpfleet':>12}{'mcp SDK':>12}{'ratio':>9}")
    print(f"{'sequential tools/call per second':34}{fleet['sequential']:12.0f}{sdk['sequential']:12.0f}{fleet['sequential'] / sdk['sequential']:8.1f}x")
    print(f"{'calls/s with 16 in flight':34}{fleet['concurrent']:12.0f}{sdk['concurrent']:12.0f}{fleet['concurrent'] / sdk['concurrent']:8.1f}x")
    print(f"{'start + initialize (median, ms)':34}{fleet['start'] * 1000:12.1f}{sdk['start'] * 1000:12.1f}{sdk['start'] / fleet['start']:8.1f}x faster")
    print("targets: sequential >= 5x, 16 in flight >= 10x")


if __name__ == "__main__":
    main()
