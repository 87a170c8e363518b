"""Rich display in notebooks (``_repr_html_``): the fleet as a table of servers, tools as a
table, a tool result with its text, images inline and structured content. Plain HTML, no
dependency; every value from a server is escaped."""

from __future__ import annotations

import html
import json
import sys
from typing import Any, Callable, Iterable

_STATE_COLOURS = {
    "Running": "#1a7f37", "Connected": "#1a7f37", "Starting": "#9a6700", "Connecting": "#9a6700",
    "Stopped": "#57606a", "Disconnected": "#57606a", "Failed": "#cf222e", "CrashLoop": "#cf222e",
    "AuthRequired": "#8250df",
}
_TABLE = '<table style="border-collapse:collapse;text-align:left">'
_CELL = 'style="padding:2px 10px;border-bottom:1px solid #d0d7de;vertical-align:top"'
#: Longest text shown in a cell or a result before it is cut.
_MAX_TEXT = 2000


def _cut(text: str, limit: int = _MAX_TEXT) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"


def _esc(value: Any) -> str:
    return html.escape(_cut("" if value is None else str(value)))


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], caption: str = "") -> str:
    head = "".join(f"<th {_CELL}>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td {_CELL}>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    cap = f"<caption style='text-align:left;font-weight:bold'>{html.escape(caption)}</caption>" if caption else ""
    return f"{_TABLE}{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _state(state: str) -> str:
    colour = _STATE_COLOURS.get(state, "#57606a")
    return f'<span style="color:{colour};font-weight:bold">{html.escape(state)}</span>'


def servers_html(servers: Iterable[Any], caption: str = "") -> str:
    rows = [
        (
            _esc(s.name), _esc(s.type), _state(s.state), str(s.tool_count), str(s.restart_count),
            _esc(f"{s.uptime:.0f} s" if s.uptime is not None else ""), _esc(s.last_error or ""),
        )
        for s in servers
    ]
    return _table(("server", "type", "state", "tools", "restarts", "up", "last error"), rows, caption)


def tools_html(tools: Iterable[Any], caption: str = "") -> str:
    rows = []
    for t in tools:
        params = ", ".join(sorted((t.input_schema or {}).get("properties", {})))
        rows.append((f"<code>{_esc(t.name)}</code>", _esc(getattr(t, "server", "") or ""), _esc(t.description or ""), _esc(params)))
    return _table(("tool", "server", "description", "arguments"), rows, caption)


def result_html(result: Any) -> str:
    parts = []
    if result.is_error:
        parts.append('<div style="color:#cf222e;font-weight:bold">tool error</div>')
    for block in result.content:
        kind = getattr(block, "type", None)
        if kind == "text":
            parts.append(f'<pre style="white-space:pre-wrap;margin:2px 0">{_esc(block.text)}</pre>')
        elif kind == "image" and isinstance(block.mime_type, str) and block.mime_type.startswith("image/"):
            src = f"data:{html.escape(block.mime_type, quote=True)};base64,{html.escape(block.data, quote=True)}"
            parts.append(f'<img src="{src}" alt="image from the tool" style="max-width:100%">')
        elif kind == "audio":
            src = f"data:{html.escape(block.mime_type, quote=True)};base64,{html.escape(block.data, quote=True)}"
            parts.append(f'<audio controls src="{src}"></audio>')
        elif kind == "resource_link":
            parts.append(f"<div>resource link: <code>{_esc(block.uri)}</code></div>")
        elif kind == "resource":
            parts.append(f"<div>embedded resource: <code>{_esc(block.resource.uri)}</code></div>")
        else:
            parts.append(f"<pre>{_esc(block)}</pre>")
    if result.structured_content is not None:
        text = json.dumps(result.structured_content, indent=2, ensure_ascii=False, default=str)
        parts.append(f'<details open><summary>structured content</summary><pre style="margin:2px 0">{_esc(text)}</pre></details>')
    return "<div>" + "".join(parts) + "</div>"


def html_of(value: Any) -> str:
    """The HTML of one of mcpfleet's values (what its ``_repr_html_`` returns)."""
    name = type(value).__name__
    if name == "MCPServerInfo":
        return servers_html([value])
    if name in ("Tool", "ToolMetadata"):
        return tools_html([value])
    if name == "CallToolResult":
        return result_html(value)
    return f"<pre>{html.escape(repr(value))}</pre>"


class ServerList(list):
    """``list_mcp_servers()``: a list, shown as a table in a notebook."""

    def _repr_html_(self) -> str:
        return servers_html(self)


class ToolList(list):
    """``get_tools()``: a list, shown as a table in a notebook."""

    def _repr_html_(self) -> str:
        return tools_html(self)


def live_display(make_html: Callable[[], str]) -> Any:
    """A display that can be updated in place, when running in a notebook kernel; else None
    (then nothing is imported and no HTML is made)."""
    ipython = sys.modules.get("IPython")  # a kernel has imported it already
    if ipython is None:
        return None
    shell = ipython.get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    from IPython.display import HTML, display

    handle = display(HTML(make_html()), display_id=True)
    return None if handle is None else _LiveDisplay(handle, HTML)


class _LiveDisplay:
    def __init__(self, handle: Any, html_class: Any) -> None:
        self._handle, self._html = handle, html_class

    def update(self, html_text: str) -> None:
        self._handle.update(self._html(html_text))
