"""Google ADK's own runner and its LiteLLM model class (OpenAI-compatible) against a scripted
model endpoint, with the fleet as a toolset."""

from __future__ import annotations

import os

import pytest

import mcpfleet
from conftest import PY, demo_and_sdk_fleet, everything_in_a_fleet, missing
from scripted_llm import ScriptedLLM

try:
    from google.adk.agents import LlmAgent
    from google.adk.models.lite_llm import LiteLlm
    from google.adk.runners import InMemoryRunner
    from google.genai import types

    from mcpfleet.integrations.google_adk import FleetToolset
except ImportError as e:  # pragma: no cover - CI installs it (in a venv of its own)
    if os.environ.get("MCPFLEET_ADK_ELSEWHERE") == "1":
        # ADK's opentelemetry pin excludes FastMCP 4.2: .ci/run tests it in .venv-adk.
        pytest.skip("Google ADK is tested in its own venv", allow_module_level=True)
    missing(f"Google ADK (with LiteLLM) is not installed ({e})")


async def run(llm: ScriptedLLM, toolset, text: str) -> list:
    agent = LlmAgent(name="helper", instruction="Use the tools.", model=LiteLlm(model="openai/scripted", api_base=llm.base_url, api_key="not-used"), tools=[toolset])
    runner = InMemoryRunner(agent=agent, app_name="fleet-test")
    session = await runner.session_service.create_session(app_name="fleet-test", user_id="u")
    message = types.Content(role="user", parts=[types.Part(text=text)])
    return [e async for e in runner.run_async(user_id="u", session_id=session.id, new_message=message)]


def final_text(events: list) -> str:
    return " ".join(p.text for e in events if e.content for p in e.content.parts if p.text)


def tool_responses(events: list) -> list[dict]:
    return [p.function_response.response for e in events if e.content for p in e.content.parts if p.function_response]


async def test_the_agent_calls_fleet_tools():
    async with mcpfleet.Adapter(demo_and_sdk_fleet()) as fleet:
        with ScriptedLLM() as llm:
            llm.script = [("sdk_add", {"a": 40, "b": 2})]
            events = await run(llm, FleetToolset(fleet), "add")
            offered = llm.offered_tools()
            assert {"demo_echo", "sdk_add"} <= set(offered)
            assert set(offered["sdk_add"]["parameters"]["properties"]) == {"a", "b"}
            [response] = tool_responses(events)
            assert response["structuredContent"] == {"result": 42}
            assert "42" in final_text(events)

            llm.requests.clear()
            llm.script = [("demo_fail", {"message": "on purpose"})]
            events = await run(llm, FleetToolset(fleet, tool_filter=["demo_fail", "demo_echo"]), "fail")
            assert set(llm.offered_tools()) == {"demo_fail", "demo_echo"}
            [response] = tool_responses(events)
            assert response["isError"] is True and "on purpose" in final_text(events)


async def test_a_client_as_the_toolset_is_opened_on_first_use_and_closed():
    client = mcpfleet.StdioClient(PY, ["-m", "mcpfleet.demo_server"])
    toolset = FleetToolset(client)
    with ScriptedLLM() as llm:
        llm.script = [("echo", {"text": "ünïcode"})]
        events = await run(llm, toolset, "echo")
        assert "ünïcode" in final_text(events)
    assert client.is_connected
    await toolset.close()
    assert not client.is_connected


async def test_images_reach_adk_in_the_result():
    async with mcpfleet.Adapter([everything_in_a_fleet()]) as fleet:
        with ScriptedLLM() as llm:
            llm.script = [("ev_get-tiny-image", {})]
            events = await run(llm, FleetToolset(fleet), "image")
            [response] = tool_responses(events)
            images = [c for c in response["content"] if c["type"] == "image"]
            assert images and images[0]["mimeType"] == "image/png" and images[0]["data"].startswith("iVBOR")
