"""Pydantic AI's own agent loop and OpenAI chat model against a scripted model endpoint, with
the fleet as a toolset: tools with their schemas, results, tool errors as retries, images,
the servers' instructions."""

from __future__ import annotations

import mcpfleet
from conftest import PY, SDK_SERVER, demo_and_sdk_fleet, everything_in_a_fleet, missing
from scripted_llm import ScriptedLLM

try:
    from pydantic_ai import Agent, BinaryContent
    from pydantic_ai.messages import ToolReturnPart
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    from mcpfleet.integrations.pydantic_ai import FleetToolset
except ImportError as e:  # pragma: no cover - CI installs it
    missing(f"Pydantic AI is not installed ({e})")

FLEET = demo_and_sdk_fleet()


def agent_for(llm: ScriptedLLM, toolsets: list) -> Agent:
    model = OpenAIChatModel("scripted", provider=OpenAIProvider(base_url=llm.base_url, api_key="not-used"))
    return Agent(model, toolsets=toolsets)


def tool_returns(result) -> list:
    return [part.content for message in result.all_messages() for part in message.parts if isinstance(part, ToolReturnPart)]


async def test_the_agent_calls_fleet_tools_with_their_schemas_and_instructions():
    async with mcpfleet.Adapter(FLEET) as fleet:
        with ScriptedLLM() as llm:
            llm.script = [("sdk_add", {"a": 40, "b": 2})]
            result = await agent_for(llm, [FleetToolset(fleet)]).run("add forty and two")
            assert "42" in result.output
            offered = llm.offered_tools()
            assert {"demo_echo", "sdk_add", "sdk_slow"} <= set(offered)
            assert set(offered["sdk_add"]["parameters"]["properties"]) == {"a", "b"}
            # The SDK server's instructions reach the model, with the prefix its tools carry.
            system = " ".join(str(m.get("content")) for m in llm.requests[0]["messages"] if m["role"] == "system")
            assert "A test peer on the official Python SDK." in system and "`sdk_…`" in system, system

            llm.script = [("demo_echo", {"text": "ünïcode"})]
            result = await agent_for(llm, [FleetToolset(fleet, server="demo")]).run("echo")
            assert set(llm.offered_tools(-1)) == {t.name for t in fleet.get_tools() if t.server == "demo"}
            assert "ünïcode" in result.output


async def test_a_tool_error_is_a_retry_the_model_sees():
    async with mcpfleet.Adapter(FLEET[:1]) as fleet:
        with ScriptedLLM() as llm:
            llm.script = [("demo_fail", {"message": "on purpose"}), ("demo_echo", {"text": "second try"})]
            result = await agent_for(llm, [FleetToolset(fleet)]).run("try")
            retry_prompt = [m for m in llm.requests[1]["messages"] if m["role"] == "tool"]
            assert retry_prompt and "on purpose" in str(retry_prompt[0]["content"])
            assert "second try" in result.output


async def test_images_come_back_as_binary_content():
    async with mcpfleet.Adapter([everything_in_a_fleet()]) as fleet:
        with ScriptedLLM() as llm:
            llm.script = [("ev_get-tiny-image", {})]
            result = await agent_for(llm, [FleetToolset(fleet)]).run("image")
            [returned] = tool_returns(result)
            images = [p for p in returned if isinstance(p, BinaryContent)]
            assert images and images[0].media_type == "image/png" and images[0].data.startswith(b"\x89PNG")


async def test_a_client_as_the_toolset_is_opened_and_closed_with_the_run():
    client = mcpfleet.StdioClient(PY, [SDK_SERVER, "stdio"])
    with ScriptedLLM() as llm:
        llm.script = [("add", {"a": 1, "b": 2})]
        result = await agent_for(llm, [FleetToolset(client)]).run("add")
        assert "3" in result.output
    assert not client.is_connected
