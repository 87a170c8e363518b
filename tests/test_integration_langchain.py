"""LangChain's own agent (`create_agent`) and OpenAI chat model against a scripted model
endpoint, with fleet tools as StructuredTools; prompts as messages, resources as blobs."""

from __future__ import annotations

import mcpfleet
from conftest import PY, SDK_SERVER, demo_and_sdk_fleet, everything_in_a_fleet, missing
from scripted_llm import ScriptedLLM

try:
    from langchain.agents import create_agent
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_openai import ChatOpenAI

    from mcpfleet.integrations.langchain import load_prompt, load_resources, to_langchain_tools
except ImportError as e:  # pragma: no cover - CI installs it
    missing(f"LangChain is not installed ({e})")

FLEET = demo_and_sdk_fleet()


def model_for(llm: ScriptedLLM) -> ChatOpenAI:
    return ChatOpenAI(model="scripted", base_url=llm.base_url, api_key="not-used")


async def run(llm: ScriptedLLM, tools: list, text: str) -> list:
    agent = create_agent(model_for(llm), tools=tools)
    state = await agent.ainvoke({"messages": [{"role": "user", "content": text}]})
    return state["messages"]


async def test_the_agent_calls_fleet_tools_and_gets_content_and_artifact():
    async with mcpfleet.Adapter(FLEET) as fleet:
        tools = await to_langchain_tools(fleet)
        by_name = {t.name: t for t in tools}
        assert {"demo_echo", "sdk_add"} <= set(by_name)
        assert by_name["sdk_add"].description == "Add two integers."
        with ScriptedLLM() as llm:
            llm.script = [("sdk_add", {"a": 40, "b": 2})]
            messages = await run(llm, tools, "add")
            assert set(llm.offered_tools()["sdk_add"]["parameters"]["properties"]) == {"a", "b"}
            [tool_message] = [m for m in messages if isinstance(m, ToolMessage)]
            assert tool_message.artifact == {"structured_content": {"result": 42}}
            assert "42" in messages[-1].content

            # A tool error is an error ToolMessage the model reads, not a crash of the run.
            llm.script = [("demo_fail", {"message": "on purpose"})]
            messages = await run(llm, tools, "fail")
            [failed] = [m for m in messages if isinstance(m, ToolMessage)]
            assert failed.status == "error" and "on purpose" in str(failed.content)
            assert "on purpose" in messages[-1].content

        only_demo = await to_langchain_tools(fleet, server="demo")
        assert {t.name for t in only_demo} == {t.name for t in fleet.get_tools() if t.server == "demo"}

        [message] = await load_prompt(fleet, "sdk_hello", {"name": "Ada"})
        assert isinstance(message, HumanMessage) and "Ada" in str(message.content)
        blobs = await load_resources(fleet, server="py")
        assert [(b.metadata["uri"], b.as_string()) for b in blobs] == [("test://greeting", "hello from the SDK")]


async def test_images_become_base64_blocks():
    async with mcpfleet.Adapter([everything_in_a_fleet()]) as fleet:
        tools = {t.name: t for t in await to_langchain_tools(fleet)}
        with ScriptedLLM() as llm:
            llm.script = [("ev_get-tiny-image", {})]
            messages = await run(llm, list(tools.values()), "image")
            [tool_message] = [m for m in messages if isinstance(m, ToolMessage)]
            images = [b for b in tool_message.content if isinstance(b, dict) and b.get("type") == "image"]
            assert images and images[0]["mime_type"] == "image/png" and images[0]["base64"].startswith("iVBOR")


async def test_a_client_is_a_source_too():
    async with mcpfleet.StdioClient(PY, [SDK_SERVER, "stdio"]) as client:
        tools = await to_langchain_tools(client)
        with ScriptedLLM() as llm:
            llm.script = [("echo", {"text": "ünïcode"})]
            messages = await run(llm, tools, "echo")
            assert "ünïcode" in messages[-1].content
