"""The descriptor that wakes an event loop when results arrive: an eventfd on Linux, a pipe on
other Unixes. `MCPFLEET_WAKER=pipe` selects the pipe on Linux, so its path is tested here (and
`run-tests` runs the client suites once more under it)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import mcpfleet
from conftest import PY


def test_the_waker_is_the_one_the_platform_and_environment_select():
    pipe = sys.platform != "linux" or os.environ.get("MCPFLEET_WAKER") == "pipe"
    assert mcpfleet._core._waker_kind() == ("pipe" if pipe else "eventfd")


def test_the_pipe_carries_many_results_and_callbacks():
    script = textwrap.dedent(f"""
        import asyncio, mcpfleet

        async def main():
            calls = 0
            def provider():
                nonlocal calls
                calls += 1
                return "unused"
            async with mcpfleet.StdioClient({PY!r}, ["-m", "mcpfleet.demo_server"]) as client:
                # Far more results than a pipe buffer holds wake-ups for, in bursts.
                for _ in range(5):
                    results = await asyncio.gather(*(client.call_tool("add", {{"a": i, "b": 1}}) for i in range(400)))
                    assert [r.structured_content["result"] for r in results] == [i + 1 for i in range(400)]
                slow = asyncio.create_task(client.call_tool("sleep", {{"seconds": 30}}))
                await asyncio.sleep(0.2)
                slow.cancel()
                try:
                    await slow
                except asyncio.CancelledError:
                    pass
                assert (await client.call_tool("echo", {{"text": "after"}})).text == "after"
            print(mcpfleet._core._waker_kind())

        asyncio.run(main())
    """)
    env = {**os.environ, "MCPFLEET_WAKER": "pipe"}
    done = subprocess.run([PY, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pipe"
