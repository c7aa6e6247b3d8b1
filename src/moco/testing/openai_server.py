"""A scripted server speaking the OpenAI Chat Completions protocol (JSON and SSE).

Serves ``POST /v1/chat/completions`` (and ``/chat/completions``) from the script, and
``POST /v1/embeddings`` with deterministic vectors (floats, or base64 float32 when the request's
``encoding_format`` says so, as the ``openai`` SDK asks by default); point a client at
``server.base_url`` (``http://127.0.0.1:PORT/v1``).
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Iterator
from typing import Any

from moco.testing.embeddings import fake_embedding
from moco.testing.script import RecordedRequest, Reply
from moco.testing.server import ScriptedServer, sse


class ScriptedOpenAIServer(ScriptedServer):
    protocol = "openai"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def handles(self, method: str, path: str) -> bool:
        route = path.split("?")[0]
        return method == "POST" and route.endswith(("/chat/completions", "/embeddings"))

    def is_embedding(self, request: RecordedRequest) -> bool:
        return request.path.split("?")[0].endswith("/embeddings")

    def embedding_body(self, request: RecordedRequest) -> dict[str, Any]:
        texts = request.body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        dim = request.body.get("dimensions") or self.embedding_dim
        as_base64 = request.body.get("encoding_format") == "base64"
        data: list[dict[str, Any]] = []
        for index, text in enumerate(texts if isinstance(texts, list) else []):
            vector = fake_embedding(str(text), int(dim))
            encoded: list[float] | str = vector
            if as_base64:
                encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(str(text).split()) for text in texts or [])
        return {"object": "list", "data": data, "model": request.body.get("model", "scripted"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    def is_stream(self, request: RecordedRequest) -> bool:
        return bool(request.body.get("stream"))

    def error_body(self, reply: Reply) -> dict[str, Any]:
        kinds = {401: "invalid_api_key", 429: "rate_limit_exceeded", 404: "model_not_found"}
        return {
            "error": {
                "message": reply.error_message,
                "type": "invalid_request_error" if reply.status < 500 else "server_error",
                "code": kinds.get(reply.status),
            }
        }

    def _usage(self, reply: Reply) -> dict[str, int]:
        return {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        }

    def _calls(self, reply: Reply, offset: int) -> list[dict[str, Any]]:
        return [
            {
                "id": call.id or f"call_{offset}_{index}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json()},
            }
            for index, call in enumerate(reply.tool_calls)
        ]

    def json_body(self, reply: Reply, request: RecordedRequest) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = self._calls(reply, len(self.requests))
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.body.get("model", "scripted"),
            "choices": [{"index": 0, "message": message, "finish_reason": reply.stop_reason}],
            "usage": self._usage(reply),
        }

    def sse_events(self, reply: Reply, request: RecordedRequest) -> Iterator[str]:
        base = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request.body.get("model", "scripted"),
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return sse({**base, "choices": [choice]})

        yield chunk({"role": "assistant", "content": ""})
        for piece in reply.text_chunks():
            yield chunk({"content": piece})
        for index, call in enumerate(self._calls(reply, len(self.requests))):
            arguments = call["function"]["arguments"]
            head = {"index": index, "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}
            yield chunk({"tool_calls": [head]})
            middle = len(arguments) // 2
            for part in (arguments[:middle], arguments[middle:]):
                if part:
                    yield chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
        if reply.cut:
            return  # no chunk with a finish_reason, no usage, no [DONE]
        yield chunk({}, reply.stop_reason)
        include_usage = (request.body.get("stream_options") or {}).get("include_usage")
        if include_usage:
            yield sse({**base, "choices": [], "usage": self._usage(reply)})
        yield "data: [DONE]\n\n"
