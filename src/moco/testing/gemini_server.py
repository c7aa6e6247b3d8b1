"""A scripted server speaking the Gemini Developer API (``generativelanguage``) protocol.

Serves ``POST /{api_version}/models/{model}:generateContent`` (JSON) and
``:streamGenerateContent?alt=sse`` (SSE frames of ``GenerateContentResponse`` JSON) from the
script, and ``:embedContent`` / ``:batchEmbedContents`` with deterministic vectors. Point the
``google-genai`` SDK at ``server.base_url`` (``http_options=HttpOptions(base_url=...)``); the SDK
adds the API version and the model path itself.

Gemini has no tool-call deltas: each ``functionCall`` part arrives whole, and several calls in
one reply (parallel calls) are parts of the same content. A :class:`ToolCall` whose
``raw_arguments`` is not a JSON object cannot travel as ``args`` (an object on the wire), so the
reply ends as the real API does with ``finishReason: MALFORMED_FUNCTION_CALL``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from moco.testing.embeddings import fake_embedding
from moco.testing.script import RecordedRequest, Reply, ToolCall
from moco.testing.server import ScriptedServer, sse

_ROUTE = re.compile(
    r"^/(?:(?P<version>[^/]+)/)?(?P<model>(?:models|tunedModels)/[^:/?]+)"
    r":(?P<method>generateContent|streamGenerateContent|embedContent|batchEmbedContents)"
    r"(?:\?.*)?$"
)

#: google.rpc status names, as Google's JSON error bodies carry them
_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
    500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

#: moco's normalised stop reasons as Gemini's finishReason values
_FINISH = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS",
           "content_filter": "SAFETY"}


class ScriptedGeminiServer(ScriptedServer):
    protocol = "gemini"

    @property
    def base_url(self) -> str:
        """What to give the SDK as ``HttpOptions.base_url`` (it appends ``/v1/models/...``)."""
        return f"{self.url}/"

    def handles(self, method: str, path: str) -> bool:
        return method == "POST" and _ROUTE.match(path) is not None

    def is_stream(self, request: RecordedRequest) -> bool:
        return self.route(request)["method"] == "streamGenerateContent"

    def is_embedding(self, request: RecordedRequest) -> bool:
        return self.route(request)["method"] in ("embedContent", "batchEmbedContents")

    def embedding_body(self, request: RecordedRequest) -> dict[str, Any]:
        if self.route(request)["method"] == "embedContent":
            return {"embedding": self._embedding(request.body)}
        requests = request.body.get("requests") or []
        return {"embeddings": [self._embedding(item) for item in requests]}

    def _embedding(self, item: dict[str, Any]) -> dict[str, Any]:
        parts = (item.get("content") or {}).get("parts") or []
        text = "".join(str(part.get("text", "")) for part in parts)
        dim = item.get("outputDimensionality") or self.embedding_dim
        return {"values": fake_embedding(text, int(dim))}

    @staticmethod
    def route(request: RecordedRequest) -> dict[str, str]:
        """``version``, ``model`` (e.g. ``models/gemini-x``) and ``method`` of a request path."""
        match = _ROUTE.match(request.path)
        if match is None:
            return {"version": "", "model": "", "method": ""}
        return {key: value or "" for key, value in match.groupdict().items()}

    @classmethod
    def model_name(cls, request: RecordedRequest) -> str:
        """The model asked for, without the ``models/`` prefix."""
        return cls.route(request)["model"].split("/", 1)[-1]

    @classmethod
    def api_version(cls, request: RecordedRequest) -> str:
        return cls.route(request)["version"]

    def error_body(self, reply: Reply) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": reply.status,
            "message": reply.error_message,
            "status": _STATUS.get(reply.status, "UNKNOWN"),
        }
        if reply.status == 429 and "retry-after" in reply.headers:
            error["details"] = [{
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{reply.headers['retry-after']}s",
            }]
        return {"error": error}

    # -- bodies ---------------------------------------------------------------------------
    def _usage(self, reply: Reply) -> dict[str, int]:
        return {
            "promptTokenCount": reply.input_tokens,
            "candidatesTokenCount": reply.output_tokens,
            "totalTokenCount": reply.input_tokens + reply.output_tokens,
        }

    def _finish(self, reply: Reply) -> str:
        if any(_call_args(call) is None for call in reply.tool_calls):
            return "MALFORMED_FUNCTION_CALL"
        reason = reply.stop_reason
        return _FINISH.get(reason, reason.upper())

    def _call_parts(self, reply: Reply) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        for call in reply.tool_calls:
            args = _call_args(call)
            if args is None:
                return []  # the whole reply is a malformed call
            function_call: dict[str, Any] = {"name": call.name, "args": args}
            if call.id:
                function_call["id"] = call.id
            parts.append({"functionCall": function_call})
        return parts

    def _envelope(self, request: RecordedRequest, candidate: dict[str, Any]) -> dict[str, Any]:
        return {
            "candidates": [{**candidate, "index": 0}],
            "modelVersion": self.model_name(request) or "scripted",
            "responseId": f"resp-{len(self.requests)}",
        }

    def json_body(self, reply: Reply, request: RecordedRequest) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": reply.text}] if reply.text else []
        parts.extend(self._call_parts(reply))
        body = self._envelope(request, {
            "content": {"role": "model", "parts": parts},
            "finishReason": self._finish(reply),
        })
        body["usageMetadata"] = self._usage(reply)
        return body

    def sse_events(self, reply: Reply, request: RecordedRequest) -> Iterator[str]:
        def content(parts: list[dict[str, Any]]) -> dict[str, Any]:
            return {"content": {"role": "model", "parts": parts}}

        prompt_only = {"promptTokenCount": reply.input_tokens}
        for piece in reply.text_chunks():
            yield sse({**self._envelope(request, content([{"text": piece}])),
                       "usageMetadata": prompt_only})
        calls = self._call_parts(reply)
        if calls:
            yield sse({**self._envelope(request, content(calls)), "usageMetadata": prompt_only})
        if reply.cut:
            return  # no candidate with a finishReason
        final = {**content([{"text": ""}]), "finishReason": self._finish(reply)}
        yield sse({**self._envelope(request, final), "usageMetadata": self._usage(reply)})


def _call_args(call: ToolCall) -> dict[str, Any] | None:
    """The call's arguments as a JSON object, or None when they are not one."""
    if call.raw_arguments is None:
        return dict(call.arguments)
    try:
        decoded = json.loads(call.raw_arguments)
    except json.JSONDecodeError:
        return None
    return decoded if isinstance(decoded, dict) else None
