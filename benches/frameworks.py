"""Per-call overhead of the framework integrations over a direct `Adapter.execute_tool` on the
built-in server (stdio), and the same tool through the framework's own MCP client, same run.
No model is involved: the tool is called the way each framework's agent loop calls it.

    pip install 'mcpfleet[openai-agents,pydantic-ai,langchain,google-adk]'
    python benches/frameworks.py [--calls 3000]

Not a test: timings on shared machines are noisy; compare the ratios. "CPU added" is this
process's CPU time per call above the direct call's (target: < 50 µs).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any, Awaitable, Callable

import mcpfleet

DEMO = [sys.executable, "-m", "mcpfleet.demo_server"]
ARGS = {"text": "hello"}


async def measure(call: Callable[[], Awaitable[Any]], calls: int) -> tuple[float, float]:
    """(calls per second, CPU seconds per call) of `call` in a loop."""
    for _ in range(50):
        await call()
    cpu0, t0 = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await call()
    return calls / (time.perf_counter() - t0), (time.process_time() - cpu0) / calls


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    n = parser.parse_args().calls
    rows: list[tuple[str, float, float, float]] = []
    async with mcpfleet.Adapter([{"name": "demo", "command": DEMO[0], "args": DEMO[1:], "autoStart": True}]) as fleet:
        async def row(name: str, call: Callable[[], Awaitable[Any]], calls: int = n) -> None:
            """`call` and, right before it, the direct call: "CPU added" compares the pair."""
            _, direct_cpu = await measure(lambda: fleet.execute_tool("demo_echo", ARGS), calls)
            rows.append((name, *await measure(call, calls), direct_cpu))

        await row("Adapter.execute_tool (again: the noise)", lambda: fleet.execute_tool("demo_echo", ARGS))
        try:
            from mcpfleet.integrations.openai_agents import FleetMCPServer

            server = FleetMCPServer(fleet)
            await row("openai-agents FleetMCPServer.call_tool", lambda: server.call_tool("demo_echo", ARGS), n)
            from agents.mcp import MCPServerStdio

            async with MCPServerStdio({"command": DEMO[0], "args": DEMO[1:]}) as own:
                await row("openai-agents MCPServerStdio (its own)", lambda: own.call_tool("echo", ARGS), n // 5)
        except ImportError as e:
            print(f"openai-agents not measured: {e}")
        try:
            from mcpfleet.integrations.pydantic_ai import FleetToolset as PaiToolset

            toolset = PaiToolset(fleet)
            await row("pydantic-ai FleetToolset.call_tool", lambda: toolset.call_tool("demo_echo", ARGS, None, None), n)
        except ImportError as e:
            print(f"pydantic-ai not measured: {e}")
        try:
            from mcpfleet.integrations.langchain import to_langchain_tools

            tool = {t.name: t for t in await to_langchain_tools(fleet)}["demo_echo"]
            await row("langchain tool coroutine (our layer)", lambda: tool.coroutine(**ARGS), n)
            await row("langchain StructuredTool.ainvoke (+ LC's own)", lambda: tool.ainvoke(ARGS), n)
        except ImportError as e:
            print(f"langchain not measured: {e}")
        try:
            from mcpfleet.integrations.google_adk import FleetToolset as AdkToolset

            adk_tool = {t.name: t for t in await AdkToolset(fleet).get_tools()}["demo_echo"]
            await row("google-adk FleetTool.run_async", lambda: adk_tool.run_async(args=ARGS, tool_context=None), n)
            from google.adk.tools.mcp_tool import McpToolset, StdioConnectionParams
            from mcp import StdioServerParameters

            own_adk = McpToolset(connection_params=StdioConnectionParams(server_params=StdioServerParameters(command=DEMO[0], args=DEMO[1:]), timeout=30))
            own_tool = {t.name: t for t in await own_adk.get_tools()}["echo"]
            await row("google-adk McpToolset (its own)", lambda: own_tool.run_async(args=ARGS, tool_context=None), n // 5)
            await own_adk.close()
        except ImportError as e:
            print(f"google-adk not measured: {e}")
    print(f"{'':46}{'calls/s':>10}{'CPU/call':>12}{'CPU added':>12}")
    for name, rate, cpu, direct_cpu in rows:
        print(f"{name:46}{rate:>10.0f}{cpu * 1e6:>10.0f}µs{(cpu - direct_cpu) * 1e6:>10.0f}µs")
    print("target: < 50 µs CPU added per call by our integration layer")


if __name__ == "__main__":
    asyncio.run(main())
