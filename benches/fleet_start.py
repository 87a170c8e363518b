"""Fleet start-up: N stdio servers (the built-in one) until all tools are listed, mcpfleet's
Adapter against the official SDK's ClientSessionGroup (which connects one server after the
other) and against N SDK sessions started concurrently with asyncio.gather. One run; prints
times and ratios. Target: the fleet is ready in at most 1.5x the time of one server.

    python benches/fleet_start.py [--sizes 5 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from contextlib import AsyncExitStack

import mcpfleet

ARGS = ["-m", "mcpfleet.demo_server"]


async def fleet_ready(n: int) -> float:
    servers = [{"name": f"s{i}", "command": sys.executable, "args": ARGS, "autoStart": True} for i in range(n)]
    t0 = time.perf_counter()
    fleet = mcpfleet.Adapter(servers)
    outcomes = await fleet.start_auto()
    assert all(v is None for v in outcomes.values()), outcomes
    assert len(fleet.get_tools()) >= 5 * n
    elapsed = time.perf_counter() - t0
    await fleet.close()
    return elapsed


async def sdk_group_ready(n: int) -> float:
    from mcp import StdioServerParameters
    from mcp.client.session_group import ClientSessionGroup

    t0 = time.perf_counter()
    async with AsyncExitStack() as stack:
        group = ClientSessionGroup(exit_stack=stack, component_name_hook=lambda name, info: f"{info.name}_{id(info)}_{name}")
        for _ in range(n):
            await group.connect_to_server(StdioServerParameters(command=sys.executable, args=ARGS))
        assert len(group.tools) >= 5 * n
        elapsed = time.perf_counter() - t0
    return elapsed


async def sdk_gather_ready(n: int) -> float:
    from mcp import StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=ARGS)
    t0 = time.perf_counter()
    # Each server gets its own exit stack (one stack is not safe for concurrent entry).
    counts = await asyncio.gather(*(isolated(one_server, params) for _ in range(n)))
    assert sum(counts) >= 5 * n
    return time.perf_counter() - t0


async def one_server(params) -> tuple[AsyncExitStack, int]:
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client

    stack = AsyncExitStack()
    read, write = await stack.enter_async_context(stdio_client(params))
    session = await stack.enter_async_context(ClientSession(read, write))
    await session.initialize()
    return stack, len((await session.list_tools()).tools)


async def isolated(factory, params) -> int:
    stack, count = await factory(params)
    await stack.aclose()
    return count


def median(fn, n: int, repeat: int) -> float:
    return statistics.median(asyncio.run(fn(n)) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--repeat", type=int, default=3)
    a = parser.parse_args()
    one = median(fleet_ready, 1, a.repeat)
    print(f"one server, mcpfleet: {one * 1000:.0f} ms")
    print(f"{'servers':>8}{'mcpfleet ms':>13}{'x one':>7}{'SDK group ms':>14}{'SDK gather ms':>15}{'vs group':>10}")
    for n in a.sizes:
        fleet = median(fleet_ready, n, a.repeat)
        group = median(sdk_group_ready, n, a.repeat)
        gather = median(sdk_gather_ready, n, a.repeat)
        print(f"{n:>8}{fleet * 1000:>13.0f}{fleet / one:>7.2f}{group * 1000:>14.0f}{gather * 1000:>15.0f}{group / fleet:>9.1f}x")
    print("target: fleet ready within 1.5x of one server")


if __name__ == "__main__":
    main()
