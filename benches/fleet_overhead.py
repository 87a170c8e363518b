"""What the fleet costs on top of a client, same run:

- routing: `Adapter.execute_tool` against a direct `StdioClient.call_tool`, each on its own copy
  of the built-in server, sequential and with 16 calls in flight (target: within 10%);
  the SDK's `ClientSessionGroup.call_tool` against a direct SDK `ClientSession` for comparison;
- memory: RSS of this Python process per idle managed stdio server (children excluded),
  mcpfleet's `Adapter` against the SDK's `ClientSessionGroup` (target: under 2 MiB).

    python benches/fleet_overhead.py [--calls 3000] [--rounds 7] [--servers 50]

Not a test: timings on shared machines are noisy; compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
from contextlib import AsyncExitStack

import mcpfleet
from stdio_client import in_flight as rate  # calls per second with `width` in flight

SERVER = [sys.executable, "-m", "mcpfleet.demo_server"]
ARGS = {"text": "hello"}


async def routing(calls: int, rounds: int) -> None:
    fleet = mcpfleet.Adapter([{"name": "demo", "command": SERVER[0], "args": SERVER[1:], "autoStart": True}])
    await fleet.start_auto()
    client = mcpfleet.StdioClient(SERVER[0], SERVER[1:])
    await client.initialize()
    via_fleet = lambda: fleet.execute_tool("demo_echo", ARGS)  # noqa: E731
    direct = lambda: client.call_tool("echo", ARGS)  # noqa: E731
    await rate(via_fleet, 300, 1)
    await rate(direct, 300, 1)
    print("routing, calls/s (median of alternating rounds)")
    for width in (1, 16):
        # Alternate the two so that machine noise hits both alike.
        f, d = [], []
        for _ in range(rounds):
            f.append(await rate(via_fleet, calls, width))
            d.append(await rate(direct, calls, width))
        fm, dm = statistics.median(f), statistics.median(d)
        label = "sequential" if width == 1 else f"{width} in flight"
        print(f"  {label:<13} Adapter.execute_tool {fm:8.0f}  StdioClient.call_tool {dm:8.0f}  overhead {100 * (dm / fm - 1):+5.1f}%")
    await client.close()
    await fleet.close()
    await sdk_routing(calls, rounds)


async def sdk_routing(calls: int, rounds: int) -> None:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.session_group import ClientSessionGroup
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=SERVER[0], args=SERVER[1:])
    async with AsyncExitStack() as stack:
        group = ClientSessionGroup(exit_stack=stack)
        await group.connect_to_server(params)
        read, write = await stack.enter_async_context(stdio_client(params))
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        via_group = lambda: group.call_tool("echo", ARGS)  # noqa: E731
        direct = lambda: session.call_tool("echo", ARGS)  # noqa: E731
        f, d = [], []
        for _ in range(rounds):
            f.append(await rate(via_group, calls // 3, 1))
            d.append(await rate(direct, calls // 3, 1))
        fm, dm = statistics.median(f), statistics.median(d)
        print(f"  SDK sequential ClientSessionGroup.call_tool {fm:6.0f}  ClientSession.call_tool {dm:6.0f}  overhead {100 * (dm / fm - 1):+5.1f}%")


def rss() -> int:
    gc.collect()
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def fleet_memory(n: int) -> float:
    servers = [{"name": f"s{i}", "command": SERVER[0], "args": SERVER[1:], "autoStart": True} for i in range(n)]
    warm = mcpfleet.Adapter(servers[:2])  # runtime, buffers and classes allocated once
    await warm.start_auto()
    await warm.execute_tool("s0_echo", ARGS)
    await warm.close()
    before = rss()
    fleet = mcpfleet.Adapter(servers)
    outcomes = await fleet.start_auto()
    assert all(v is None for v in outcomes.values()), outcomes
    for i in range(n):
        await fleet.execute_tool(f"s{i}_echo", ARGS)
    await asyncio.sleep(0.5)
    per_server = (rss() - before) / n
    await fleet.close()
    return per_server


async def sdk_memory(n: int) -> float:
    from mcp import StdioServerParameters
    from mcp.client.session_group import ClientSessionGroup

    params = StdioServerParameters(command=SERVER[0], args=SERVER[1:])
    async with AsyncExitStack() as stack:
        warm = ClientSessionGroup(exit_stack=stack, component_name_hook=lambda name, info: f"{id(info)}_{name}")
        await warm.connect_to_server(params)
    async with AsyncExitStack() as stack:
        before = rss()
        group = ClientSessionGroup(exit_stack=stack, component_name_hook=lambda name, info: f"{id(info)}_{name}")
        for _ in range(n):
            await group.connect_to_server(params)
        for name in [t for t in group.tools if t.endswith("_echo")]:
            await group.call_tool(name, ARGS)
        await asyncio.sleep(0.5)
        return (rss() - before) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--servers", type=int, default=50)
    a = parser.parse_args()
    asyncio.run(routing(a.calls, a.rounds))
    ours = asyncio.run(fleet_memory(a.servers))
    theirs = asyncio.run(sdk_memory(a.servers))
    print(f"memory, RSS per idle stdio server ({a.servers} servers): Adapter {ours / 2**20:.2f} MiB, "
          f"SDK ClientSessionGroup {theirs / 2**20:.2f} MiB ({theirs / max(ours, 1):.1f}x)")
    print("targets: routing within 10%, under 2 MiB per server")


if __name__ == "__main__":
    main()
