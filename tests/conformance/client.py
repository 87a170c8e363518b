"""A conformance-suite client built on mcpfleet.

The suite runs `python client.py <server-url>` with MCP_CONFORMANCE_SCENARIO set (and, for
some auth scenarios, MCP_CONFORMANCE_CONTEXT), and judges what the client sent. See
../test_conformance.py.

Auth scenarios run headless: the authorize callback fetches the authorization URL without
following redirects and hands the `Location` (the redirect with the code) back to mcpfleet.
"""

import asyncio
import json
import os
import sys
import urllib.error
import urllib.request

import mcpfleet

# A client metadata document URL for the CIMD scenario (the mock server does not fetch it).
CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def authorize(url: str) -> str:
    """Headless: the mock authorization server answers 302 to the redirect URI with the code."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        response = opener.open(url, timeout=10)
    except urllib.error.HTTPError as e:
        if e.code in (301, 302, 303, 307, 308):
            return e.headers["Location"]
        raise
    raise RuntimeError(f"the authorization endpoint answered {response.status}, not a redirect")


def auth_for(scenario: str, context: dict):
    if not scenario.startswith("auth/"):
        return None
    if "client-credentials" in scenario:
        if "private_key_pem" in context:
            return mcpfleet.OAuth(
                grant="private_key_jwt",
                client_id=context["client_id"],
                private_key=context["private_key_pem"],
                signing_algorithm=context.get("signing_algorithm", "ES256"),
            )
        return mcpfleet.OAuth(grant="client_credentials", credentials={
            mcpfleet.DEFAULT_CLIENT_ID_KEY: context["client_id"],
            mcpfleet.DEFAULT_CLIENT_SECRET_KEY: context["client_secret"],
        })
    return mcpfleet.OAuth(
        client_id=context.get("client_id"),
        client_secret=context.get("client_secret"),
        client_metadata_url=CLIENT_METADATA_URL,
        authorize=authorize,
    )


async def main() -> None:
    url = sys.argv[-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    handlers = {}
    if scenario.startswith("elicitation-"):
        # Accept without filling anything in: the schema's defaults must be applied (SEP-1034).
        handlers["elicitation_handler"] = lambda request: "accept"
    elif scenario == "sep-2322-client-request-state":
        handlers["elicitation_handler"] = lambda request: {"confirmed": True}
    # The 2026-07-28 suite names the version to speak (stateless, no initialize).
    protocol = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION") or "auto"
    async with mcpfleet.StreamableHTTPClient(url, timeout=20, auth=auth_for(scenario, context), protocol=protocol, **handlers) as client:
        tools = await client.list_tools()
        print("tools:", [t.name for t in tools])
        if scenario == "tools_call":
            result = await client.call_tool("add_numbers", {"a": 2, "b": 3})
            print("result:", result.text)
        elif scenario == "elicitation-sep1034-client-defaults":
            result = await client.call_tool("test_client_elicitation_defaults", {})
            print("result:", result.text)
        elif scenario == "sse-retry":
            result = await client.call_tool("test_reconnection", {})
            print("result:", result.text)
        elif scenario.startswith("auth/") and any(t.name == "test-tool" for t in tools):
            result = await client.call_tool("test-tool", {})
            print("result:", result.text)
        elif scenario == "sep-2322-client-request-state":
            # input_required rounds, with and without requestState; a call in between carries neither.
            for name in ("test_mrtr_echo_state", "test_mrtr_unrelated", "test_mrtr_no_state", "test_mrtr_no_result_type"):
                print(name, (await client.call_tool(name, {})).text)
        elif scenario == "http-invalid-tool-headers":
            # Tools whose x-mcp-header is invalid are left out of the list; the valid one is called.
            print("listed:", [t.name for t in tools])
            print("result:", (await client.call_tool("valid_tool", {"region": "us-west1"})).text)
        elif scenario == "json-schema-2020-12-preservation":
            # The tool's input schema exactly as received: nothing dropped or rewritten.
            focal = next(t for t in tools if t.name == "json_schema_2020_12_tool")
            print("result:", (await client.call_tool("json_schema_echo", {"schema": focal.input_schema})).text)
        for call in context.get("toolCalls", []):
            print(call["name"], (await client.call_tool(call["name"], call["arguments"])).text)


if __name__ == "__main__":
    asyncio.run(main())
