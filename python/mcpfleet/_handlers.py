"""The shapes of the handlers a client (or a fleet) takes, for type hints.

Each handler may be a plain function or an ``async`` one; it runs on the event loop the client
is used from (with ``mcpfleet.sync``, on mcpfleet's own callback loop).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from os import PathLike
from typing import Any, Union

from ._core import ElicitationRequest, LogMessage, SamplingRequest

__all__ = ["ElicitationHandler", "SamplingHandler", "LogHandler", "ProgressCallback", "Root", "RootsFunction"]

#: None or "decline", "accept", "cancel", a dict of content (accepted; the schema's defaults
#: fill what it leaves out), a full ``{"action": ..., "content": ...}``, or an SDK ElicitResult.
ElicitationAnswer = Union[None, str, dict[str, Any], Any]
ElicitationHandler = Callable[[ElicitationRequest], Union[ElicitationAnswer, Awaitable[ElicitationAnswer]]]

#: The assistant's text, a CreateMessageResult dict (``role`` and ``model`` may be left out),
#: or an SDK CreateMessageResult.
SamplingAnswer = Union[str, dict[str, Any], Any]
SamplingHandler = Callable[[SamplingRequest], Union[SamplingAnswer, Awaitable[SamplingAnswer]]]

LogHandler = Callable[[LogMessage], Union[None, Awaitable[None]]]

#: Called with (progress, total or None, message or None).
ProgressCallback = Callable[[float, Union[float, None], Union[str, None]], Union[None, Awaitable[None]]]

#: An absolute path, a URI, ``(uri, name)`` or ``{"uri": ..., "name": ...}``.
Root = Union[str, "PathLike[str]", tuple[str, Union[str, None]], dict[str, Any]]
RootsFunction = Callable[[], Union[Iterable[Root], Awaitable[Iterable[Root]]]]
