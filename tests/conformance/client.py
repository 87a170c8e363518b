"""A conformance-suite client built on mcpfleet.

The suite runs `python client.py <server-url>` with MCP_CONFORMANCE_SCENARIO set, and judges
what the client sent. See ../test_conformance.py.
"""

import asyncio
import os
import sys

import mcpfleet


async def main() -> None:
    url = sys.argv[-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    async with mcpfleet.StreamableHTTPClient(url, timeout=20) as client:
        tools = await client.list_tools()
        print("tools:", [t.name for t in tools])
        if scenario == "tools_call":
            result = await client.call_tool("add_numbers", {"a": 2, "b": 3})
            print("result:", result.text)
        elif scenario == "sse-retry":
            result = await client.call_tool("test_reconnection", {})
            print("result:", result.text)


if __name__ == "__main__":
    asyncio.run(main())
