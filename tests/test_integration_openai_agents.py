"""The OpenAI Agents SDK's own agent loop, its own chat-completions model class, a scripted
model endpoint on 127.0.0.1, and tools that run on real MCP servers through a fleet."""

from __future__ import annotations

import json

import mcpfleet
from conftest import PY, demo_and_sdk_fleet, everything_in_a_fleet, missing
from scripted_llm import ScriptedLLM

try:
    from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled
    from agents.items import ToolCallOutputItem
    from openai import AsyncOpenAI

    from mcpfleet.integrations.openai_agents import FleetMCPServer, servers
except ImportError as e:  # pragma: no cover - CI installs it
    missing(f"the OpenAI Agents SDK is not installed ({e})")

set_tracing_disabled(True)

FLEET = demo_and_sdk_fleet()


def agent_for(llm: ScriptedLLM, mcp_servers: list) -> Agent:
    model = OpenAIChatCompletionsModel(model="scripted", openai_client=AsyncOpenAI(base_url=llm.base_url, api_key="not-used"))
    return Agent(name="helper", instructions="Use the tools.", mcp_servers=mcp_servers, model=model)


async def test_the_agent_calls_fleet_tools_and_reads_their_results():
    async with mcpfleet.Adapter(FLEET) as fleet:
        with ScriptedLLM() as llm:
            llm.script = [("demo_echo", {"text": "ünïcode from the model"})]
            server = FleetMCPServer(fleet)
            async with server:
                result = await Runner.run(agent_for(llm, [server]), "echo something")
            assert "ünïcode from the model" in result.final_output
            offered = llm.offered_tools()
            assert {"demo_echo", "demo_add", "sdk_add", "sdk_slow"} <= set(offered)
            assert offered["sdk_add"]["description"] == "Add two integers."
            assert set(offered["sdk_add"]["parameters"]["properties"]) == {"a", "b"}
            assert server.cached_tools and {t.name for t in server.cached_tools} == set(offered)
            # The fleet stays up: the server did not start it, so it does not stop it.
            assert fleet.get_mcp_server("demo").state == "Running"

            # A tool error reaches the model as the tool's answer, not as a crash of the run.
            llm.script = [("demo_fail", {"message": "on purpose"})]
            result = await Runner.run(agent_for(llm, [server]), "fail please")
            assert "on purpose" in result.final_output

            prompts = await server.list_prompts()
            assert {"demo_greet", "sdk_hello"} <= {p.name for p in prompts.prompts}
            got = await server.get_prompt("sdk_hello", {"name": "Ada"})
            assert "Ada" in got.messages[0].content.text
            read = await server.read_resource("test://greeting")
            assert read.contents[0].text == "hello from the SDK"


async def test_tool_filters_and_one_server_per_fleet_server():
    async with mcpfleet.Adapter(FLEET) as fleet:
        with ScriptedLLM() as llm:
            llm.script = [("sdk_add", {"a": 40, "b": 2})]
            only = FleetMCPServer(fleet, tool_filter={"allowed_tool_names": ["sdk_add", "demo_echo"]})
            result = await Runner.run(agent_for(llm, [only]), "add")
            assert set(llm.offered_tools()) == {"sdk_add", "demo_echo"} and "42" in result.final_output

            async def no_slow(context, tool) -> bool:
                assert context.server_name == "py"
                return not tool.name.endswith("slow")

            per_server = servers(fleet, tool_filter=None)
            per_server[1] = FleetMCPServer(fleet, server="py", tool_filter=no_slow)
            assert [s.name for s in per_server] == ["demo", "py"]
            llm.requests.clear()
            llm.script = [("demo_add", {"a": 1, "b": 2})]
            result = await Runner.run(agent_for(llm, per_server), "add")
            offered = set(llm.offered_tools())
            assert "demo_add" in offered and "sdk_add" in offered and "sdk_slow" not in offered
            assert "3" in result.final_output


async def test_images_reach_the_model():
    async with mcpfleet.Adapter([everything_in_a_fleet()]) as fleet:
        with ScriptedLLM() as llm:
            llm.script = [("ev_get-tiny-image", {})]
            result = await Runner.run(agent_for(llm, [FleetMCPServer(fleet)]), "show me")
            # The SDK's tool output item carries the image as a data URL (chat completions
            # then passes only the text parts to the model; the Responses API takes images).
            [output] = [item.output for item in result.new_items if isinstance(item, ToolCallOutputItem)]
            images = [part for part in output if part.get("type") == "image"]
            assert images and images[0]["image_url"].startswith("data:image/png;base64,iVBOR"), output
            assert result.final_output.startswith("The tool said:")


async def test_a_single_client_as_the_source_is_connected_and_closed_by_the_server():
    client = mcpfleet.StdioClient(PY, ["-m", "mcpfleet.demo_server"])
    server = FleetMCPServer(client)
    with ScriptedLLM() as llm:
        llm.script = [("add", {"a": 2, "b": 2})]
        async with server:
            assert client.is_connected
            result = await Runner.run(agent_for(llm, [server]), "add")
        assert "4" in result.final_output
    assert not client.is_connected


async def test_the_sdks_tool_meta_reaches_the_server():
    """The Agents SDK's `tool_meta_resolver` makes `_meta` per call; the server sees it."""
    seen: list = []

    def resolve(context) -> dict:
        seen.append((context.server_name, context.tool_name))
        return {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "example.com/tool": context.tool_name}

    async with mcpfleet.Adapter(FLEET) as fleet:
        with ScriptedLLM() as llm:
            llm.script = [("sdk_request_meta", {})]
            server = FleetMCPServer(fleet, tool_meta_resolver=resolve)
            async with server:
                result = await Runner.run(agent_for(llm, [server]), "what meta?")
    assert seen == [("mcpfleet", "sdk_request_meta")]
    quoted = result.final_output.removeprefix("The tool said:").strip()
    assert json.loads(quoted)["meta"] == {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "example.com/tool": "sdk_request_meta"}
