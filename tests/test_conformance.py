"""The official MCP conformance suite (`@modelcontextprotocol/conformance`, client mode) judging
a small client built on mcpfleet (tests/conformance/client.py)."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import NODE22, NODE_MODULES, PY

CLIENT = os.path.join(os.path.dirname(__file__), "conformance", "client.py")
CLI = NODE_MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"


@pytest.mark.parametrize("scenario", ["initialize", "tools_call", "sse-retry"])
def test_client_scenario(scenario, tmp_path):
    if not (NODE22.exists() and CLI.exists()):
        pytest.skip("npm install has not been run (conformance suite or Node 22 missing)")
    env = {**os.environ, "PATH": f"{NODE22.parent}:{os.environ['PATH']}"}
    out = subprocess.run(
        [str(NODE22), str(CLI), "client", "--command", f"{PY} {CLIENT}", "--scenario", scenario, "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    report = out.stdout + out.stderr
    assert out.returncode == 0, report
    assert "OVERALL: PASSED" in report, report
