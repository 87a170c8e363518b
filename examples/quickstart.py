"""Quickstart: start the built-in MCP server over stdio, list its tools, call one.

    pip install . && python examples/quickstart.py
"""

import asyncio
import sys

import mcpfleet


async def main() -> None:
    server = mcpfleet.StdioClient(sys.executable, ["-m", "mcpfleet.demo_server"])
    async with server:
        print("connected to", server.server_info)
        for tool in await server.list_tools():
            print(f"  {tool.name}: {tool.description}")
        result = await server.call_tool("add", {"a": 2, "b": 40})
        print("add(2, 40) =", result.text, result.structured_content)
        failed = await server.call_tool("fail", {"message": "tools report errors in the result"})
        print("fail ->", failed.is_error, failed.text)


if __name__ == "__main__":
    asyncio.run(main())
