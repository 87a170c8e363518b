"""Configuration sources: YAML files of MCPServer documents, muster's directory layout, the
desktop clients' mcpServers JSON; and a corpus of broken files, each with its exact message
and location. A file with any problem registers nothing."""

from __future__ import annotations

import json
import textwrap

import pytest

import mcpfleet
from conftest import PY

MUSTER = "muster.giantswarm.io/v1alpha1"


def write(path, text: str):
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


async def test_yaml_documents_start_and_run(tmp_path):
    cfg = write(
        tmp_path / "servers.yaml",
        f"""
        apiVersion: {MUSTER}
        kind: MCPServer
        metadata:
          name: demo
        spec:
          type: stdio
          command: {PY}
          args: ["-m", "mcpfleet.demo_server"]
          toolPrefix: d
          autoStart: true
          env:
            DEMO_GREETING: "${{MCPFLEET_TEST_GREETING:-hi}}"
        ---
        name: idle
        type: stdio
        command: {PY}
        args: ["-m", "mcpfleet.demo_server"]
        """,
    )
    async with mcpfleet.Adapter.from_config(cfg) as fleet:
        assert {s.name: s.state for s in fleet.list_mcp_servers()} == {"demo": "Running", "idle": "Stopped"}
        assert (await fleet.execute_tool("d_echo", {"text": "yaml"})).text == "yaml"
        assert fleet.get_mcp_server("demo").definition["env"] == {"DEMO_GREETING": "<redacted>"}


def test_directory_layout_and_desktop_json(tmp_path):
    servers = tmp_path / "conf" / "mcpservers"
    servers.mkdir(parents=True)
    write(servers / "a.yaml", f"apiVersion: {MUSTER}\nkind: MCPServer\nmetadata: {{name: a}}\nspec: {{type: stdio, command: uvx}}\n")
    write(servers / "b.yml", "apiVersion: mcpfleet.dev/v1alpha1\nkind: MCPServer\nspec: {type: sse, url: 'http://127.0.0.1:1/sse'}\n")
    write(servers / "notes.txt", "ignored")
    fleet = mcpfleet.Adapter.from_config(tmp_path / "conf")
    assert [(s.name, s.type) for s in fleet.list_mcp_servers()] == [("a", "stdio"), ("b", "sse")]

    desktop = tmp_path / "claude_desktop_config.json"
    desktop.write_text(json.dumps({"mcpServers": {
        "time": {"command": "uvx", "args": ["mcp-server-time"], "env": {"TZ": "UTC"}},
        "remote": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer x"}},
        "legacy": {"type": "sse", "url": "https://example.com/events"},
        "off": {"command": "uvx", "disabled": True},
    }}))
    fleet = mcpfleet.Adapter.from_config(desktop)
    got = {s.name: (s.type, s.auto_start) for s in fleet.list_mcp_servers()}
    assert got == {"time": ("stdio", True), "remote": ("streamable-http", True), "legacy": ("sse", True), "off": ("stdio", False)}


BROKEN = [
    ("unknown-field.yaml", "name: a\ntype: stdio\ncomand: uvx\n", 3, 1, "comand", "unknown field `comand`; did you mean `command`?"),
    ("missing-command.yaml", "name: a\ntype: stdio\n", 1, 1, "command", "command is required when type is stdio"),
    ("missing-url.yaml", f"apiVersion: {MUSTER}\nkind: MCPServer\nmetadata: {{name: r}}\nspec:\n  type: streamable-http\n", 5, 3, "spec.url", "url is required when type is streamable-http or sse"),
    ("bad-url.yaml", "name: a\ntype: sse\nurl: ftp://host/sse\n", 3, 6, "url", "expected an http:// or https:// URL"),
    ("bad-type.yaml", "name: a\ntype: studio\ncommand: x\n", 2, 7, "type", 'unknown type "studio" (did you mean `stdio`?)'),
    ("args-on-remote.yaml", "name: a\ntype: sse\nurl: http://h/sse\nargs: [x]\n", 4, 1, "args", "args field is only allowed when type is stdio"),
    ("headers-on-stdio.yaml", "name: a\ntype: stdio\ncommand: x\nheaders: {A: b}\n", 4, 1, "headers", "headers field is only allowed when type is streamable-http or sse"),
    ("bad-prefix.yaml", "name: a\ntype: stdio\ncommand: x\ntoolPrefix: 1st\n", 4, 13, "toolPrefix", "invalid tool prefix \"1st\": must match ^[a-zA-Z][a-zA-Z0-9_-]*$"),
    ("timeout.yaml", "name: a\ntype: stdio\ncommand: x\ntimeout: 301\n", 4, 10, "timeout", "must be between 1 and 300 seconds, got 301"),
    ("timeout-type.yaml", "name: a\ntype: stdio\ncommand: x\ntimeout: soon\n", 4, 10, "timeout", "expected a number of seconds, found a string"),
    ("long-description.yaml", "name: a\ntype: stdio\ncommand: x\ndescription: " + "d" * 501 + "\n", 4, 14, "description", "at most 500 characters, got 501"),
    ("command-list.yaml", "name: a\ntype: stdio\ncommand: [uvx, tool]\n", 3, 10, "command", "command is one executable; put its arguments in `args`"),
    ("unset-var.yaml", "name: a\ntype: stdio\ncommand: x\nenv:\n  KEY: ${MCPFLEET_SURELY_UNSET_VAR}\n", 5, 8, "env.KEY", "environment variable `MCPFLEET_SURELY_UNSET_VAR` is not set"),
    ("wrong-kind.yaml", f"apiVersion: {MUSTER}\nkind: Deployment\nmetadata: {{name: a}}\nspec: {{type: stdio, command: x}}\n", 2, 7, "kind", 'expected "MCPServer", got "Deployment"'),
    ("wrong-api.yaml", "apiVersion: v1\nkind: MCPServer\nmetadata: {name: a}\nspec: {type: stdio, command: x}\n", 1, 13, "apiVersion", "expected"),
    ("syntax.yaml", "name: a\ntype: [stdio\ncommand: x\n", None, None, "", "syntax error"),
    ("duplicate-key.yaml", "name: a\ntype: stdio\nname: b\n", 3, 1, "", "duplicate key `name` (first at line"),
    ("env-not-map.yaml", "name: a\ntype: stdio\ncommand: x\nenv: [A=1]\n", 4, 6, "env", "expected a mapping of names to strings, found a list"),
    ("restart-typo.yaml", "name: a\ntype: stdio\ncommand: x\nrestart: {maxRestart: 3}\n", 4, 11, "restart.maxRestart", "did you mean `maxRestarts`?"),
    ("desktop-no-command.json", '{"mcpServers": {\n  "t": {"args": ["x"]}\n}}\n', 2, 8, "mcpServers.t.type", "type is required"),
]


def untidy(filename: str, text: str) -> tuple[bytes, int]:
    """The file as people write it: a BOM, a comment header, a blank line, CRLF line ends, a tab
    in a comment. Returns the bytes and how many lines were added on top."""
    header = "" if filename.endswith(".json") else "# servers for the team \u2014 edit with care\n#\tsee README\n\n"
    return ("\ufeff" + header + text).replace("\n", "\r\n").encode(), header.count("\n")


@pytest.mark.parametrize("tidy", [True, False], ids=["tidy", "untidy"])
@pytest.mark.parametrize("filename,text,line,column,field,message", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_file(tmp_path, filename, text, line, column, field, message, tidy):
    path = tmp_path / filename
    if tidy:
        path.write_text(text)
    else:
        data, added = untidy(filename, text)
        path.write_bytes(data)
        line = None if line is None else line + added
    with pytest.raises(mcpfleet.ConfigError) as e:
        mcpfleet.Adapter.from_config(path)
    err = e.value
    assert err.file == str(path)
    problem = next((p for p in err.problems if message in p["message"]), None)
    assert problem is not None, f"{message!r} not among {err.problems}"
    if line is not None:
        assert (problem["line"], problem["column"]) == (line, column), problem
        assert f"{path}:{line}:{column}: " in str(err)
    else:
        assert problem["line"] is not None and problem["line"] >= 1
    assert problem["field"] == field
    assert problem["file"] == str(path)


def test_one_bad_file_in_a_directory_registers_nothing(tmp_path):
    servers = tmp_path / "mcpservers"
    servers.mkdir()
    write(servers / "good.yaml", "name: good\ntype: stdio\ncommand: x\n")
    write(servers / "bad.yaml", "name: bad\ntype: stdio\n")
    with pytest.raises(mcpfleet.ConfigError) as e:
        mcpfleet.Adapter.from_config(tmp_path)
    assert len(e.value.problems) == 1 and e.value.problems[0]["file"].endswith("bad.yaml")


def test_every_problem_of_a_file_is_listed(tmp_path):
    path = write(tmp_path / "many.yaml", "name: a\ntype: stdio\ncomand: x\ntimeout: 0\n---\nname: a\ntype: sse\n")
    with pytest.raises(mcpfleet.ConfigError) as e:
        mcpfleet.Adapter.from_config(path)
    messages = [p["message"] for p in e.value.problems]
    assert len(messages) == 4, messages
    assert "problems" in str(e.value)


def test_missing_file_and_bad_directory(tmp_path):
    with pytest.raises(mcpfleet.ConfigError, match="cannot read it"):
        mcpfleet.Adapter.from_config(tmp_path / "nope.yaml")
    with pytest.raises(mcpfleet.ConfigError, match="must contain `mcpservers/`"):
        mcpfleet.Adapter.from_config(tmp_path)
