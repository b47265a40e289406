"""A scripted OpenAI-compatible server on 127.0.0.1: real HTTP, no model.

`POST /v1/chat/completions` reads the labelled messages out of the request and
answers, by default, with one faithful point per message and one fabricated
point of each kind the checks must catch. Queued replies (errors, delays,
malformed bodies) are served first, one per request.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OUTSIDE_ID = "<not-in-this-item@elsewhere.example>"
INVENTED_PERSON = "Zelda Quux"
INVENTED_VERSION = "9.8.7"
_LABEL = re.compile(r"Message-ID: (?P<id><[^>\n]+>)\nFrom: (?P<author>[^\n]*)\n\n(?P<text>.*?)(?=\n---\n\n|\Z)",
                    re.DOTALL)


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    content: str | None = None  # the assistant's text; None: the responder's
    body: str | None = None  # the raw HTTP body, instead of a completion
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class Seen:
    """One request as the server got it."""

    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def system(self) -> str:
        return str(self.body["messages"][0]["content"])

    @property
    def user(self) -> str:
        return str(self.body["messages"][-1]["content"])


@dataclass(slots=True)
class Script:
    queue: list[Reply] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    refuse_schema: bool = False  # answer 400 to a json_schema response_format, as some servers do
    responder: Callable[[Seen], str] | None = None


def labelled_messages(user: str) -> list[dict[str, str]]:
    """The messages of a summary request: id, author, text."""
    return [{"id": m["id"], "author": m["author"], "text": m["text"].strip()} for m in _LABEL.finditer(user)]


def first_sentence(text: str) -> str:
    sentence = re.split(r"(?<=[.!?])\s", " ".join(text.split()), maxsplit=1)[0]
    return sentence if sentence.endswith((".", "!", "?")) else sentence + "."


def faithful_points(user: str) -> list[dict[str, Any]]:
    """One point per message: its first sentence."""
    return [{"text": first_sentence(m["text"]), "message_ids": [m["id"]]}
            for m in labelled_messages(user) if m["text"]]


def fabricated_points(user: str) -> list[dict[str, Any]]:
    """One point of each kind the checks must drop."""
    messages = [m for m in labelled_messages(user) if m["text"]]
    if not messages:
        return []
    first = messages[0]
    said = first_sentence(first["text"])
    points = [
        {"text": f"{first['author']} said the release moves to version {INVENTED_VERSION}.",
         "message_ids": [first["id"]]},
        {"text": f"{INVENTED_PERSON} objected to the plan.", "message_ids": [first["id"]]},
        {"text": said, "message_ids": [OUTSIDE_ID]},
        {"text": said, "message_ids": [first["id"]]},  # a repeat of the first faithful point
        {"text": "Everyone agreed.", "message_ids": []},
    ]
    others = [m for m in messages if m["author"] != first["author"]]
    if others:
        points.append({"text": f"{others[0]['author']} proposed that {said[0].lower() + said[1:]}",
                       "message_ids": [first["id"]]})
    return points


def default_responder(seen: Seen) -> str:
    """Faithful points with every kind of fabrication mixed in; a fold request's points back as they came."""
    if "You merge" in seen.system:
        lines = [json.loads(line) for line in seen.user.splitlines() if line.startswith("{")]
        return json.dumps({"points": [{"text": p["text"], "message_ids": p["message_ids"]} for p in lines]})
    faithful = faithful_points(seen.user)
    mixed = faithful[:1] + fabricated_points(seen.user) + faithful[1:]
    return "```json\n" + json.dumps({"points": mixed}) + "\n```"


class ScriptedServer:
    """`with ScriptedServer() as server:` ... `server.url` is the base_url for [llm]."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="scripted-llm", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self.script.seen)

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self.script.queue.extend(replies)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()

    def _next(self, seen: Seen) -> Reply:
        with self._lock:
            self.script.seen.append(seen)
            schema = (seen.body.get("response_format") or {}).get("type") == "json_schema"
            if self.script.refuse_schema and schema:
                return Reply(400, body=json.dumps({"error": {"message": "response_format json_schema is not "
                                                              "supported", "type": "invalid_request_error"}}))
            return self.script.queue.pop(0) if self.script.queue else Reply()

    def answer(self, seen: Seen) -> tuple[int, dict[str, str], bytes, float]:
        reply = self._next(seen)
        headers = dict(reply.headers)
        if reply.body is not None:
            return reply.status, headers, reply.body.encode(), reply.delay
        if reply.status != 200:
            error = {"error": {"message": f"scripted {reply.status}", "type": "server_error", "code": None}}
            return reply.status, headers, json.dumps(error).encode(), reply.delay
        content = reply.content if reply.content is not None else (self.script.responder or default_responder)(seen)
        completion = {
            "id": "chatcmpl-scripted", "object": "chat.completion", "created": int(time.time()),
            "model": seen.body.get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(seen.user) // 4, "completion_tokens": len(content) // 4,
                      "total_tokens": (len(seen.user) + len(content)) // 4},
        }
        return 200, headers, json.dumps(completion).encode(), reply.delay


def _handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, {}, b'{"error": {"message": "not found"}}')
                return
            seen = Seen(json.loads(raw), {k.lower(): v for k, v in self.headers.items()})
            status, headers, body, delay = server.answer(seen)
            if delay:
                time.sleep(delay)
            self._send(status, headers, body)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (a timeout test): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def dead_url() -> str:
    """A loopback URL where nothing listens: the server that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def scripted(responder: Callable[[Seen], str] | None = None, **options: Any) -> Iterator[ScriptedServer]:
    """For a pytest fixture: `yield from scripted()`."""
    with ScriptedServer(Script(responder=responder, **options)) as server:
        yield server
