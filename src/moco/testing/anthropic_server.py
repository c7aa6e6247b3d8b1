"""A scripted server speaking the Anthropic Messages protocol (JSON and SSE).

Serves ``POST /v1/messages``; point a client at ``server.base_url``
(``http://127.0.0.1:PORT`` — the SDK appends ``/v1/messages``).

Streams are sent as Anthropic sends them: ``message_start`` (with input usage),
``content_block_start`` / ``ping`` / ``content_block_delta`` (``text_delta``, or
``input_json_delta`` split into several ``partial_json`` pieces) / ``content_block_stop``
per block, ``message_delta`` (stop reason and output usage) and ``message_stop``. Several
tool calls in one :class:`Reply` become several ``tool_use`` blocks (parallel calls).

``Reply.finish_reason`` takes moco's names (``stop``, ``tool_calls``, ``length``,
``content_filter``) or Anthropic's (``end_turn``, ``max_tokens`` ...). A name ending in
``_error`` (``overloaded_error``, ``api_error`` ...) ends the stream with an ``error`` event
after the content instead of a stop reason, as Anthropic does when it fails mid-answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from moco.testing.script import RecordedRequest, Reply
from moco.testing.server import ScriptedServer, sse

#: moco's normalised finish reasons as Anthropic stop reasons
_STOP_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}

#: HTTP status -> Anthropic error type
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class ScriptedAnthropicServer(ScriptedServer):
    protocol = "anthropic"

    @property
    def base_url(self) -> str:
        """What the SDK's ``base_url`` should be (it appends ``/v1/messages`` itself)."""
        return self.url

    def handles(self, method: str, path: str) -> bool:
        return method == "POST" and path.split("?")[0].rstrip("/").endswith("/v1/messages")

    def is_stream(self, request: RecordedRequest) -> bool:
        return bool(request.body.get("stream"))

    def error_body(self, reply: Reply) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"type": _error_type(reply.status), "message": reply.error_message},
            "request_id": f"req_scripted_{len(self.requests)}",
        }

    # -- the answer ---------------------------------------------------------------------------
    def _stop_reason(self, reply: Reply) -> str:
        if reply.finish_reason:
            return _STOP_REASONS.get(reply.finish_reason, reply.finish_reason)
        return "tool_use" if reply.tool_calls else "end_turn"

    def _blocks(self, reply: Reply) -> list[dict[str, Any]]:
        """The content blocks of the answer; tool inputs kept as raw JSON text."""
        blocks: list[dict[str, Any]] = []
        if reply.text:
            blocks.append({"type": "text", "text": reply.text})
        offset = len(self.requests)
        for index, call in enumerate(reply.tool_calls):
            blocks.append({
                "type": "tool_use",
                "id": call.id or f"toolu_{offset:02d}_{index:02d}",
                "name": call.name,
                "input": call.arguments_json(),
            })
        return blocks

    def _message(self, request: RecordedRequest, content: list[dict[str, Any]],
                 stop_reason: str | None, usage: dict[str, int]) -> dict[str, Any]:
        return {
            "id": f"msg_scripted_{len(self.requests):04d}",
            "type": "message",
            "role": "assistant",
            "model": request.body.get("model", "scripted"),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }

    def json_body(self, reply: Reply, request: RecordedRequest) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for block in self._blocks(reply):
            if block["type"] == "tool_use":
                block = {**block, "input": call_input(block["input"])}
            content.append(block)
        usage = {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens}
        return self._message(request, content, self._stop_reason(reply), usage)

    def sse_events(self, reply: Reply, request: RecordedRequest) -> Iterator[str]:
        start_usage = {"input_tokens": reply.input_tokens, "output_tokens": 1}
        message = self._message(request, [], None, start_usage)
        yield sse({"type": "message_start", "message": message}, "message_start")
        if reply.malformed:
            # The base class adds a data-only frame, which the SDK skips as an unnamed event;
            # a named event with broken JSON is what a corrupted Anthropic stream looks like.
            yield "event: content_block_delta\ndata: {not json at all\n\n"
        for index, block in enumerate(self._blocks(reply)):
            yield from self._block_events(index, block, reply)
        if reply.cut:
            return  # no message_delta with a stop reason, no message_stop
        stop_reason = self._stop_reason(reply)
        if stop_reason.endswith("_error"):
            error = {"type": stop_reason, "message": reply.error_message}
            yield sse({"type": "error", "error": error}, "error")
            return
        delta = {"type": "message_delta",
                 "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                 "usage": {"output_tokens": reply.output_tokens}}
        yield sse(delta, "message_delta")
        yield sse({"type": "message_stop"}, "message_stop")

    def _block_events(self, index: int, block: dict[str, Any], reply: Reply) -> Iterator[str]:
        if block["type"] == "text":
            yield sse({"type": "content_block_start", "index": index,
                       "content_block": {"type": "text", "text": ""}}, "content_block_start")
            yield from _ping(index)
            for piece in reply.text_chunks():
                yield sse({"type": "content_block_delta", "index": index,
                           "delta": {"type": "text_delta", "text": piece}}, "content_block_delta")
        else:
            head = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            yield sse({"type": "content_block_start", "index": index, "content_block": head},
                      "content_block_start")
            yield from _ping(index)
            for piece in json_pieces(block["input"]):
                delta = {"type": "input_json_delta", "partial_json": piece}
                yield sse({"type": "content_block_delta", "index": index, "delta": delta},
                          "content_block_delta")
        yield sse({"type": "content_block_stop", "index": index}, "content_block_stop")


def _ping(index: int) -> Iterator[str]:
    """Anthropic sends a ping after the first block starts (and now and then later)."""
    if index == 0:
        yield sse({"type": "ping"}, "ping")


def json_pieces(text: str, pieces: int = 3) -> list[str]:
    """Split tool input JSON the way Anthropic streams it: an empty first piece, then chunks."""
    size = max(1, -(-len(text) // pieces))
    return ["", *(text[i : i + size] for i in range(0, len(text), size))]


def call_input(raw: str) -> Any:
    """A tool call's input as a JSON value (invalid scripted JSON is sent as a string)."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _error_type(status: int) -> str:
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"
