"""A scripted OpenAI-compatible chat-completions endpoint on 127.0.0.1, for driving the agent
frameworks' own OpenAI model classes end to end without a real model.

Each request is recorded. While its script has tool calls left (one per tool result seen so
far), the model "decides" to call the next one (name and arguments); then it answers with a
final message that quotes the last tool result, so a test can see what the tool returned."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class ScriptedLLM:
    def __init__(self) -> None:
        self.script: list[tuple[str, dict[str, Any]]] = []
        self.requests: list[dict[str, Any]] = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        app = Starlette(routes=[Route("/v1/chat/completions", self._complete, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> ScriptedLLM:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the scripted model did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def offered_tools(self, request: int = 0) -> dict[str, dict[str, Any]]:
        """The tools the framework offered the model in a request: name → function spec."""
        return {t["function"]["name"]: t["function"] for t in self.requests[request].get("tools", [])}

    async def _complete(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(body)
        last = body["messages"][-1]
        calls_made = sum(1 for m in body["messages"] if m.get("role") == "tool")
        if calls_made >= len(self.script):
            text = _text(last.get("content")) if last.get("role") == "tool" else "nothing to do"
            message = {"role": "assistant", "content": f"The tool said: {text}"}
            finish = "stop"
        else:
            name, arguments = self.script[calls_made]
            call = {"id": f"call_{calls_made + 1}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            finish = "tool_calls"
        return JSONResponse({
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()), "model": body.get("model", "scripted"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content)
