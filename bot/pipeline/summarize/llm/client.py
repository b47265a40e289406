"""The exchange with an OpenAI-compatible server: one chat completion, retried, its JSON parsed leniently.

The official `openai` package speaks to Ollama, the llama.cpp server, vLLM,
LM Studio and hosted services alike; tenacity retries timeouts, 429s and 5xx.
What is counted (requests, tokens, seconds) may be logged; what is sent and
received never is, and neither is the key.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.errors import ModelError
from bot.settings import LlmSettings

from .verify import Point

log = logging.getLogger(__name__)

POINTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "points": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"text": {"type": "string"},
                               "message_ids": {"type": "array", "items": {"type": "string"}}},
                "required": ["text", "message_ids"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["points"],
    "additionalProperties": False,
}
# Tried in this order; a server that refuses one (HTTP 400/422) gets the next, and keeps it.
_FORMATS: tuple[dict[str, Any] | None, ...] = (
    {"type": "json_schema", "json_schema": {"name": "points", "strict": True, "schema": POINTS_SCHEMA}},
    {"type": "json_object"},
    None,
)
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)  # reasoning models' preamble
_MAX_WAIT = 30.0  # seconds, however long a Retry-After asks for


class Unreachable(ModelError):
    """The server cannot be reached at all: no use trying the other items."""


@dataclass(slots=True)
class Usage:
    """What `--verbose` may show: counts and time, never content."""

    requests: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def line(self, model: str) -> str:
        return (f"llm: {model}: {self.requests} request(s), {self.retries} retried, {self.failures} failed; "
                f"{self.prompt_tokens} prompt + {self.completion_tokens} completion tokens; {self.seconds:.1f} s")


class ModelClient:
    """One endpoint and model; thread-safe, so items can be summarized concurrently."""

    def __init__(self, settings: LlmSettings, api_key: str | None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        import openai

        # The openai and httpx loggers print request bodies (the list's mail) at DEBUG: --verbose must not.
        for name in ("openai", "httpx", "httpx2", "httpcore", "httpcore2"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._settings = settings
        # Local servers ignore the key, but the client insists on one.
        self._client = openai.OpenAI(base_url=settings.base_url.rstrip("/"), api_key=api_key or "no-key",
                                     timeout=settings.timeout_seconds, max_retries=0)
        self._sleep = sleep
        self._format = 0
        self._lock = threading.Lock()
        self.usage = Usage()

    @property
    def model(self) -> str:
        return self._settings.model

    def points(self, system: str, user: str) -> list[Point]:
        """The points the model answers with; ModelError when it fails or answers something else."""
        return parse_points(self.complete(system, user))

    def complete(self, system: str, user: str) -> str:
        """The text of one chat completion at temperature 0, retried as configured."""
        from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt

        retrying = Retrying(stop=stop_after_attempt(self._settings.retries + 1), retry=retry_if_exception(_retryable),
                            wait=_wait, sleep=self._sleep, before_sleep=self._count_retry, reraise=False)
        started = time.monotonic()
        try:
            return retrying(self._request, system, user)
        except RetryError as exc:
            self._count(failures=1)
            raise _failure(exc.last_attempt.exception(), retried=True) from None
        except ModelError:
            self._count(failures=1)
            raise
        except Exception as exc:  # noqa: BLE001 - the model never fails a draft: every error becomes a fallback
            self._count(failures=1)
            raise _failure(exc, retried=False) from None
        finally:
            self._count(seconds=time.monotonic() - started)

    def _request(self, system: str, user: str) -> str:
        import openai

        while True:
            chosen = self._format
            extra: dict[str, Any] = {}
            if _FORMATS[chosen] is not None:
                extra["response_format"] = _FORMATS[chosen]
            self._count(requests=1)
            try:
                response = self._client.chat.completions.create(
                    model=self._settings.model, temperature=0,
                    messages=[{"role": "system", "content": system}, {"role": "user", "content": user}], **extra)
            except (openai.BadRequestError, openai.UnprocessableEntityError):
                if chosen + 1 >= len(_FORMATS):
                    raise
                with self._lock:  # this server does not take that response_format: the next one, from now on
                    self._format = max(self._format, chosen + 1)
                continue
            usage = getattr(response, "usage", None)
            if usage is not None:
                self._count(prompt_tokens=usage.prompt_tokens or 0, completion_tokens=usage.completion_tokens or 0)
            choices = getattr(response, "choices", None) or []
            content = choices[0].message.content if choices and choices[0].message else None
            if not content:
                raise ModelError("an empty answer")
            return str(content)

    def close(self) -> None:
        self._client.close()

    def _count_retry(self, _state: Any) -> None:
        self._count(retries=1)

    def _count(self, **amounts: float) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self.usage, name, getattr(self.usage, name) + amount)


def _retryable(exc: BaseException) -> bool:
    import openai

    return isinstance(exc, openai.APIConnectionError | openai.RateLimitError | openai.InternalServerError) or (
        isinstance(exc, openai.APIStatusError) and exc.status_code >= 500)


def _wait(state: Any) -> float:
    """What a Retry-After header asks (within reason), else 0.5, 1, 2, 4 ... seconds."""
    exc = state.outcome.exception() if state.outcome else None
    response = getattr(exc, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    if header:
        try:
            return min(_MAX_WAIT, max(0.0, float(header)))
        except ValueError:
            pass  # an HTTP date: fall through to the backoff
    return float(min(_MAX_WAIT, 0.5 * 2 ** (state.attempt_number - 1)))


def _failure(exc: BaseException | None, *, retried: bool) -> ModelError:
    """A short reason for the draft and the chair: never the content, never the key."""
    import openai

    if isinstance(exc, ModelError):
        return exc
    after = " after retries" if retried else ""
    if isinstance(exc, openai.APITimeoutError):
        return ModelError(f"timed out{after}")
    if isinstance(exc, openai.APIConnectionError):
        return Unreachable("server unreachable")
    if isinstance(exc, openai.RateLimitError):
        return ModelError("rate-limited past its retries")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ModelError(f"refused the key (HTTP {exc.status_code})")
    if isinstance(exc, openai.NotFoundError):
        return ModelError("no such model or URL (HTTP 404): check llm.base_url and llm.model")
    if isinstance(exc, openai.APIStatusError) and exc.status_code < 500:
        return ModelError(f"request refused (HTTP {exc.status_code}): is llm.max_input_tokens within the model's "
                          "context window?")
    if isinstance(exc, openai.APIStatusError):
        return ModelError(f"server error (HTTP {exc.status_code}){after}")
    return ModelError(f"unexpected answer ({type(exc).__name__})")


def parse_points(content: str) -> list[Point]:
    """`{"points": [{"text", "message_ids"}]}`, leniently: code fences, prose around it, a bare list, one id."""
    text = _THINKING.sub("", content).strip()
    data: Any = None
    for start in (i for i, c in enumerate(text) if c in "{["):
        try:
            data, _ = json.JSONDecoder().raw_decode(text, start)
            break
        except json.JSONDecodeError:
            continue
    if isinstance(data, dict):
        data = data.get("points", data.get("summary"))
    if not isinstance(data, list):
        raise ModelError("malformed output (no points)")
    points = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            raise ModelError("malformed output (a point without text)")
        ids = entry.get("message_ids", entry.get("ids", entry.get("sources", [])))
        ids = [ids] if isinstance(ids, str) else ids
        if not isinstance(ids, list):
            raise ModelError("malformed output (message_ids)")
        points.append(Point(entry["text"], tuple(i for i in ids if isinstance(i, str))))
    return points
