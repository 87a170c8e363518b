"""Results as plain data (`to_dict()`, the MCP wire shape) and as the official SDK's models
(`to_mcp()`), so anything built on `mcp.types` takes ours; and a fleet built cell by cell, the
way a notebook does it."""

from __future__ import annotations

import asyncio

import mcp.types
import pytest

import mcpfleet
from conftest import EVERYTHING, PY, SDK_SERVER, everything_in_a_fleet, missing, node


def same_wire(ours: dict, sdk_model) -> None:
    """The SDK model, dumped as the spec spells it, says what our dict says."""
    dumped = sdk_model.model_dump(mode="json", by_alias=True, exclude_none=True)
    dumped.pop("resultType", None)  # the SDK fills in its own defaults
    if "isError" not in ours and dumped.get("isError") is False:
        dumped.pop("isError")
    assert dumped == ours, (dumped, ours)


async def test_sdk_server_results_convert():
    async with mcpfleet.StdioClient(PY, [SDK_SERVER, "stdio"]) as client:
        info = client.server_info
        init = info.to_mcp()
        assert isinstance(init, mcp.types.InitializeResult)
        assert init.server_info.name == "sdk-test-peer" and init.instructions == info.instructions
        assert init.protocol_version == info.protocol_version

        tools = {t.name: t for t in await client.list_tools()}
        add = tools["add"]
        assert tools["echo"].icons[0]["mimeType"] == "image/svg+xml" and add.icons is None
        as_dict = add.to_dict()
        assert as_dict["inputSchema"] == add.input_schema and as_dict["name"] == "add"
        sdk_tool = add.to_mcp()
        assert isinstance(sdk_tool, mcp.types.Tool) and sdk_tool.description == "Add two integers."
        same_wire(as_dict, sdk_tool)

        result = await client.call_tool("add", {"a": 2, "b": 40})
        sdk_result = result.to_mcp()
        assert isinstance(sdk_result, mcp.types.CallToolResult) and sdk_result.is_error is False
        assert sdk_result.content[0].text == "42" and sdk_result.structured_content == result.structured_content
        same_wire(result.to_dict(), sdk_result)
        failed = (await client.call_tool("boom", {"message": "kaput"})).to_mcp()
        assert failed.is_error is True

        [resource] = await client.list_resources()
        assert isinstance(resource.to_mcp(), mcp.types.Resource) and str(resource.to_mcp().uri) == "test://greeting"
        [template] = [t for t in await client.list_resource_templates() if t.name == "item"]
        sdk_template = template.to_mcp()
        assert isinstance(sdk_template, mcp.types.ResourceTemplate) and sdk_template.uri_template == "test://items/{item}"
        same_wire(template.to_dict(), sdk_template)
        read = (await client.read_resource("test://greeting")).to_mcp()
        assert isinstance(read, mcp.types.ReadResourceResult) and read.contents[0].text == "hello from the SDK"

        [prompt] = [p for p in await client.list_prompts() if p.name == "hello"]
        sdk_prompt = prompt.to_mcp()
        assert isinstance(sdk_prompt, mcp.types.Prompt) and [a.name for a in sdk_prompt.arguments] == ["name"]
        got = (await client.get_prompt("hello", {"name": "Zoë"})).to_mcp()
        assert isinstance(got, mcp.types.GetPromptResult) and "Zoë" in got.messages[0].content.text


async def test_images_and_fleet_tools_convert():
    async with mcpfleet.Adapter([everything_in_a_fleet()]) as fleet:
        tools = {t.name: t for t in fleet.get_tools()}
        image_tool = tools["ev_get-tiny-image"]
        sdk_tool = image_tool.to_mcp()
        # The fleet's public name, not the server's own.
        assert sdk_tool.name == "ev_get-tiny-image" and image_tool.to_dict()["name"] == "ev_get-tiny-image"
        assert sdk_tool.input_schema == image_tool.input_schema
        result = await fleet.execute_tool("ev_get-tiny-image", {})
        images = [c for c in result.to_mcp().content if isinstance(c, mcp.types.ImageContent)]
        assert images and images[0].mime_type == "image/png" and images[0].data == next(c.data for c in result.content if c.type == "image")
        same_wire(result.to_dict(), result.to_mcp())


async def test_a_fleet_built_cell_by_cell_runs_what_should_run():
    """No `async with`: a notebook creates servers one cell at a time and expects them up."""
    fleet = mcpfleet.Adapter()
    try:
        info = await fleet.create({"name": "démo", "command": PY, "args": ["-m", "mcpfleet.demo_server"], "autoStart": True})
        assert info.state == "Running", (info.state, info.last_error)
        assert (await fleet.execute_tool(f"{info.tool_prefix}_echo", {"text": "cell 2"})).text == "cell 2"
        idle = await fleet.create({"name": "idle", "command": PY, "args": ["-m", "mcpfleet.demo_server"]})
        assert idle.state == "Stopped"
        # Made autoStart later: it starts then.
        updated = await fleet.update("idle", {"name": "idle", "command": PY, "args": ["-m", "mcpfleet.demo_server"], "autoStart": True})
        assert updated.state == "Running", (updated.state, updated.last_error)
    finally:
        await fleet.close()
    assert all(s.state in ("Stopped", "Disconnected") for s in fleet.list_mcp_servers())


def test_to_mcp_says_what_to_install(monkeypatch):
    import sys

    async def one_tool():
        async with mcpfleet.StdioClient(PY, ["-m", "mcpfleet.demo_server"]) as client:
            return (await client.list_tools())[0]

    tool = asyncio.run(one_tool())
    monkeypatch.setitem(sys.modules, "mcp.types", None)  # as if the SDK were not installed
    with pytest.raises(ImportError, match="pip install mcp"):
        tool.to_mcp()
    assert tool.to_dict()["name"] == tool.name  # needs nothing


async def test_notebook_display_is_html_and_escapes_what_servers_say():
    servers = [
        {"name": "demo", "command": PY, "args": ["-m", "mcpfleet.demo_server"], "autoStart": True},
        # What a broken server reports must not become markup in the notebook.
        {"name": "broken", "command": "no-such-command-<b>bold</b>", "autoStart": True},
    ]
    async with mcpfleet.Adapter(servers) as fleet:
        page = fleet._repr_html_()
        assert page.startswith("<table") and "2 server(s), 1 up" in page
        assert "demo" in page and "Running" in page and "Failed" in page
        assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
        listed = fleet.list_mcp_servers()
        assert isinstance(listed, list) and "<table" in listed._repr_html_() and "<table" in listed[0]._repr_html_()
        tools = fleet.get_tools()
        assert isinstance(tools, list) and "<code>demo_echo</code>" in tools._repr_html_()
        added = await fleet.execute_tool("demo_add", {"a": 1, "b": 2})
        shown = added._repr_html_()
        assert "structured content" in shown and "&quot;result&quot;: 3" in shown
        failed = await fleet.execute_tool("demo_fail", {"message": "<i>nope</i>"})
        assert "tool error" in failed._repr_html_() and "&lt;i&gt;nope&lt;/i&gt;" in failed._repr_html_()


async def test_images_show_inline():
    if not EVERYTHING.exists():
        missing("npm install has not been run (server-everything missing)")
    async with mcpfleet.StdioClient(node(), [str(EVERYTHING), "stdio"], init_timeout=30) as client:
        image = await client.call_tool("get-tiny-image", {})
        assert '<img src="data:image/png;base64,' in image._repr_html_()
        tools = await client.list_tools()
        [tool] = [t for t in tools if t.name == "get-tiny-image"]
        assert "get-tiny-image" in tool._repr_html_()
        # A client's list is a list, shown as a table.
        assert isinstance(tools, list) and tools._repr_html_().startswith("<table") and "<code>get-tiny-image</code>" in tools._repr_html_()


def test_an_integration_without_its_framework_names_the_extra():
    import subprocess
    import sys

    code = "import sys; sys.modules['agents'] = None; sys.modules['agents.mcp'] = None\nimport mcpfleet.integrations.openai_agents"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "pip install 'mcpfleet[openai-agents]'" in done.stderr, done.stderr
