"""A small threaded HTTP server that answers like an LLM provider, from a script.

Protocol subclasses (OpenAI, Gemini, Anthropic) only say how a :class:`Reply` looks on their
wire; this module handles sockets, latency, streaming, dropped connections and recording.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from moco.testing.embeddings import DEFAULT_DIM
from moco.testing.script import RecordedRequest, Reply, Script


class ScriptExhausted(AssertionError):
    """The code under test made more requests than the script has replies."""


class ScriptedServer:
    """Base class. Use as a context manager or call :meth:`start` / :meth:`stop`.

    ``requests`` holds every request received, so tests can assert on what was asked.
    Embedding requests (where the protocol has them) do not consume the script: they are
    answered with :func:`moco.testing.embeddings.fake_embedding` vectors of ``embedding_dim``
    dimensions (or the dimension the request asks for) and recorded in ``embedding_requests``;
    replies given to :meth:`add_embedding` (errors, latency) are used first.
    """

    #: name used in error messages
    protocol = "base"

    def __init__(self, script: Script | None = None) -> None:
        self._script: Script = script if script is not None else []
        self._position = 0
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []
        self.embedding_requests: list[RecordedRequest] = []
        self.embedding_dim = DEFAULT_DIM
        self._embedding_replies: list[Reply] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- protocol hooks -------------------------------------------------------------------
    def is_stream(self, request: RecordedRequest) -> bool:
        raise NotImplementedError  # pragma: no cover - overridden by every protocol

    def json_body(self, reply: Reply, request: RecordedRequest) -> dict[str, Any]:
        raise NotImplementedError  # pragma: no cover

    def sse_events(self, reply: Reply, request: RecordedRequest) -> Iterator[str]:
        """Yield complete SSE frames (``"event: x\\ndata: {...}\\n\\n"``)."""
        raise NotImplementedError  # pragma: no cover

    def malformed_frame(self) -> str:
        """An SSE frame the client cannot parse (protocols may name the event)."""
        return "data: {not json at all\n\n"

    def error_body(self, reply: Reply) -> dict[str, Any]:
        return {"error": {"message": reply.error_message, "code": reply.status}}

    def handles(self, method: str, path: str) -> bool:
        return method == "POST"

    def is_embedding(self, request: RecordedRequest) -> bool:
        """Whether ``request`` asks for embeddings (answered without the script)."""
        return False

    def embedding_body(self, request: RecordedRequest) -> dict[str, Any]:
        raise NotImplementedError  # pragma: no cover - protocols with embeddings override it

    def response_body(self, reply: Reply, request: RecordedRequest) -> dict[str, Any]:
        if self.is_embedding(request):
            return self.embedding_body(request)
        return self.json_body(reply, request)

    # -- script ---------------------------------------------------------------------------
    def add(self, *replies: Reply) -> None:
        """Append replies to a list script."""
        if not isinstance(self._script, list):
            raise TypeError("add() needs a list script")
        self._script.extend(replies)

    def use(self, script: Script) -> None:
        """Replace the script (a list of replies or a function ``request -> Reply``), e.g.
        a :class:`RoutedScript` for a team on a server a fixture started."""
        with self._lock:
            self._script, self._position = script, 0

    def add_embedding(self, *replies: Reply) -> None:
        """Replies for the next embedding requests (e.g. ``Reply.error(429)``); a reply with
        status 200 is answered with the deterministic vectors (after its ``latency``)."""
        with self._lock:
            self._embedding_replies.extend(replies)

    def next_embedding_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.embedding_requests.append(request)
            return self._embedding_replies.pop(0) if self._embedding_replies else Reply()

    def next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if callable(self._script):
                return self._script(request)
            if self._position >= len(self._script):
                message = f"{self.protocol} script exhausted after {self._position} replies"
                self.errors.append(message)
                return Reply.error(500, message)
            reply = self._script[self._position]
            self._position += 1
            return reply

    @property
    def remaining(self) -> int:
        if callable(self._script):
            return 0
        return len(self._script) - self._position

    def assert_complete(self) -> None:
        """Fail when some scripted replies were never asked for."""
        if self.remaining:
            raise AssertionError(f"{self.remaining} scripted replies were not used")

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        handler = _make_handler(self)
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    #: many agents may connect at once; the default backlog of 5 drops connection attempts
    request_queue_size = 128


def _make_handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"server_script": server})


class _Handler(BaseHTTPRequestHandler):
    server_script: ScriptedServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._not_found()

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self.server_script.handles("POST", self.path):
            self._not_found()
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        request = RecordedRequest(
            method="POST",
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body if isinstance(body, dict) else {"_": body},
            raw=raw,
        )
        script = self.server_script
        embedding = script.is_embedding(request)
        reply = script.next_embedding_reply(request) if embedding else script.next_reply(request)
        if reply.latency:
            time.sleep(reply.latency)
        if reply.status != 200:
            self._send_json(reply.status, self.server_script.error_body(reply), reply.headers)
        elif not embedding and script.is_stream(request):
            self._send_stream(reply, request)
        else:
            self._send_complete(reply, request)

    def _not_found(self) -> None:
        self._send_json(404, {"error": {"message": f"no route {self.path}", "code": 404}})

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_complete(self, reply: Reply, request: RecordedRequest) -> None:
        if reply.drop:
            self._drop()
            return
        if reply.malformed:
            data = b'{"this is": not json'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self._send_json(200, self.server_script.response_body(reply, request), reply.headers)

    def _send_stream(self, reply: Reply, request: RecordedRequest) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        frames = list(self.server_script.sse_events(reply, request))
        if reply.malformed:
            frames.insert(len(frames) // 2, "data: {not json at all\n\n")
        if reply.drop:
            frames = frames[: max(1, len(frames) // 2)]
        try:
            for frame in frames:
                self.wfile.write(frame.encode())
                self.wfile.flush()
                if reply.chunk_delay:
                    time.sleep(reply.chunk_delay)
        except (BrokenPipeError, ConnectionResetError):
            return
        self.close_connection = True
        if reply.drop:
            self._drop()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(2)
        except OSError:
            pass


def sse(data: dict[str, Any] | str, event: str | None = None) -> str:
    """Format one SSE frame."""
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n"
