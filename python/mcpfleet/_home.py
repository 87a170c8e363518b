"""The event loop Python callbacks (token providers, token stores, OAuth hooks) run on during
blocking calls (``mcpfleet.sync``): one daemon thread, started on first use. The thread that
made the call is blocked meanwhile (and may itself be running a loop), so it cannot host them."""

from __future__ import annotations

import asyncio
import threading

from . import _core

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


async def _register() -> None:
    _core._register_loop()


def home_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is not None and _thread is not None and _thread.is_alive():
            return _loop
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(_register())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=run, name="mcpfleet-callbacks", daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("the mcpfleet-callbacks thread did not start")
        _loop, _thread = loop, thread
        return loop
