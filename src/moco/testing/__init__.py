"""Scripted LLM servers for tests: the real provider SDKs talk to them over HTTP on 127.0.0.1.

Example::

    from moco.testing import ScriptedOpenAIServer, Reply, ToolCall

    script = [Reply.call("read_file", {"path": "a.txt"}), Reply.say("done")]
    with ScriptedOpenAIServer(script) as llm:
        # point moco at llm.url + "/v1" (OPENAI_BASE_URL or --base-url) and run
        ...
        assert llm.requests[1].body["messages"][-1]["role"] == "tool"

Each server accepts a list of :class:`Reply` or a function ``request -> Reply``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moco.testing.script import RecordedRequest, Reply, RoutedScript, Script, ToolCall
from moco.testing.server import ScriptedServer, ScriptExhausted

if TYPE_CHECKING:
    from moco.testing.anthropic_server import ScriptedAnthropicServer
    from moco.testing.gemini_server import ScriptedGeminiServer
    from moco.testing.openai_server import ScriptedOpenAIServer

__all__ = [
    "RecordedRequest",
    "Reply",
    "RoutedScript",
    "Script",
    "ScriptExhausted",
    "ScriptedAnthropicServer",
    "ScriptedGeminiServer",
    "ScriptedOpenAIServer",
    "ScriptedServer",
    "ToolCall",
]

_LAZY = {
    "ScriptedOpenAIServer": "moco.testing.openai_server",
    "ScriptedGeminiServer": "moco.testing.gemini_server",
    "ScriptedAnthropicServer": "moco.testing.anthropic_server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)
