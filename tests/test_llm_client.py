"""The exchange with an OpenAI-compatible server, against a scripted one on loopback (tests/helpers/llm_server.py)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest

from bot.pipeline.summarize.llm import Topic, write_summaries
from bot.pipeline.summarize.llm.fold import chunk_sources
from bot.pipeline.summarize.llm.verify import DUPLICATE, MISATTRIBUTED, NO_CITATION, OUTSIDE, UNSUPPORTED, Source
from bot.settings import LlmSettings
from tests.helpers.llm_server import (
    INVENTED_PERSON,
    INVENTED_VERSION,
    Reply,
    Script,
    ScriptedServer,
    Seen,
    dead_url,
    faithful_points,
    labelled_messages,
)

ANN = Source("<1@x.example>", "Ann Example", "We agreed to release 2.0 on 1 September.\n\nThe branch is cut.")
BOB = Source("<2@x.example>", "Bob Builder", "I will prepare the changelog by Friday.")
TOPIC = Topic("Release plan for 2.0", (ANN, BOB), ("Ann Example", "Bob Builder"), 120)


@pytest.fixture()
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


def settings(url: str, **kw: object) -> LlmSettings:
    values: dict[str, object] = {"base_url": url, "model": "scripted-model", "timeout_seconds": 5.0, "retries": 2}
    return LlmSettings(**{**values, **kw})  # type: ignore[arg-type]


def test_only_the_faithful_points_survive(server: ScriptedServer) -> None:
    [written] = write_summaries([TOPIC], settings(server.url))
    assert written.fallback == ""
    assert [(s.text, s.message_id, s.author, s.cites) for s in written.summary] == [
        ("We agreed to release 2.0 on 1 September.", ANN.message_id, "Ann Example", (ANN.message_id,)),
        ("I will prepare the changelog by Friday.", BOB.message_id, "Bob Builder", (BOB.message_id,)),
    ]
    assert written.dropped == {UNSUPPORTED: 2, OUTSIDE: 1, DUPLICATE: 1, NO_CITATION: 1, MISATTRIBUTED: 1}
    assert not any(INVENTED_PERSON in s.text or INVENTED_VERSION in s.text for s in written.summary)


def test_the_request_labels_each_message_and_asks_for_json(server: ScriptedServer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-secret")
    write_summaries([TOPIC], settings(server.url, api_key_env="TEST_LLM_KEY"))
    [seen] = server.seen
    assert seen.body["model"] == "scripted-model" and seen.body["temperature"] == 0
    assert seen.body["response_format"]["type"] == "json_schema"
    assert seen.headers["authorization"] == "Bearer sk-test-secret"
    assert labelled_messages(seen.user) == [
        {"id": ANN.message_id, "author": "Ann Example", "text": ANN.text},
        {"id": BOB.message_id, "author": "Bob Builder", "text": BOB.text},
    ]
    assert "Topic: Release plan for 2.0" in seen.user and "message_ids" in seen.system


def test_rate_limits_and_server_errors_are_retried(server: ScriptedServer) -> None:
    server.queue(Reply(429, headers=(("Retry-After", "0"),)), Reply(429, headers=(("Retry-After", "0"),)), Reply(),
                 Reply(500), Reply(503))
    first, second = write_summaries([TOPIC, TOPIC], settings(server.url, max_concurrency=1))
    assert first.summary and second.summary
    assert len(server.seen) == 6


def test_errors_past_the_retries_fall_back(server: ScriptedServer) -> None:
    server.queue(*[Reply(500)] * 3, *[Reply(429, headers=(("Retry-After", "0"),))] * 3)
    first, second = write_summaries([TOPIC, TOPIC], settings(server.url, max_concurrency=1))
    assert (first.summary, first.fallback) == ((), "server error (HTTP 500) after retries")
    assert (second.summary, second.fallback) == ((), "rate-limited past its retries")


def test_a_timeout_falls_back(server: ScriptedServer) -> None:
    server.queue(Reply(delay=2.5), Reply(delay=2.5))
    started = time.monotonic()
    [written] = write_summaries([TOPIC], settings(server.url, timeout_seconds=1.0, retries=1))
    assert (written.summary, written.fallback) == ((), "timed out after retries")
    assert len(server.seen) == 2 and time.monotonic() - started < 5


def test_a_timeout_then_an_answer_is_kept(server: ScriptedServer) -> None:
    server.queue(Reply(delay=2.5))
    [written] = write_summaries([TOPIC], settings(server.url, timeout_seconds=1.0, retries=1))
    assert written.summary and written.fallback == ""


@pytest.mark.parametrize("content", ["I cannot help with that.", '{"points": [{"txt": "x"}]}', "{not json", ""])
def test_malformed_output_falls_back(server: ScriptedServer, content: str) -> None:
    server.queue(Reply(content=content))
    [written] = write_summaries([TOPIC], settings(server.url))
    assert written.summary == ()
    assert written.fallback.startswith("malformed output") or written.fallback == "an empty answer"


def test_a_body_that_is_not_a_completion_falls_back(server: ScriptedServer) -> None:
    server.queue(Reply(body="<html>gateway</html>"))
    [written] = write_summaries([TOPIC], settings(server.url))
    assert written.summary == () and written.fallback


def test_a_server_without_json_schema_gets_json_object() -> None:
    with ScriptedServer(Script(refuse_schema=True)) as server:
        first, second = write_summaries([TOPIC, TOPIC], settings(server.url, max_concurrency=1))
        formats = [(s.body.get("response_format") or {}).get("type") for s in server.seen]
    assert first.summary and second.summary
    assert formats == ["json_schema", "json_object", "json_object"]  # remembered for the next item


def test_a_server_that_is_down_is_tried_once_then_every_item_falls_back() -> None:
    started = time.monotonic()
    results = write_summaries([TOPIC] * 8, settings(dead_url(), retries=1, max_concurrency=1))
    assert {(r.summary, r.fallback) for r in results} == {((), "server unreachable")}
    assert time.monotonic() - started < 5


def test_a_missing_key_falls_back_without_a_request(server: ScriptedServer) -> None:
    [written] = write_summaries([TOPIC], settings(server.url, api_key_env="TEST_LLM_KEY_UNSET"))
    assert written.fallback == "llm.api_key: environment variable TEST_LLM_KEY_UNSET is not set"
    assert server.seen == []


def test_too_few_surviving_points_fall_back() -> None:
    def fabricating(seen: Seen) -> str:
        return json.dumps({"points": [{"text": f"{INVENTED_PERSON} said so.", "message_ids": [ANN.message_id]}]})

    with ScriptedServer(Script(responder=fabricating)) as server:
        [written] = write_summaries([TOPIC], settings(server.url))
    assert written.summary == () and written.fallback == "too few points passed the checks (0)"
    assert written.dropped == {UNSUPPORTED: 1}


def long_topic(count: int = 9) -> Topic:
    names = ["Ann Example", "Bob Builder", "Carol Jones"]
    sources = tuple(Source(f"<{n}@long.example>", names[n % 3],
                           f"Point number {n} of the thread. " + "More words about the same release. " * 60)
                    for n in range(count))
    return Topic("A long thread", sources, tuple(names), 200)


def test_a_long_thread_is_chunked_whole_and_folded(server: ScriptedServer) -> None:
    topic = long_topic()
    [written] = write_summaries([topic], settings(server.url, max_input_tokens=2000))
    summaries = [s for s in server.seen if "You merge" not in s.system]
    folds = [s for s in server.seen if "You merge" in s.system]
    assert len(summaries) > 2 and len(folds) == 1
    sent = [m["id"] for s in summaries for m in labelled_messages(s.user)]
    assert sent == [s.message_id for s in topic.sources]  # every message, in order: never only the end
    assert all(len(s.user) // 3 < 2000 for s in summaries)
    cited = {c for s in written.summary for c in s.cites}
    assert {"<0@long.example>", "<8@long.example>"} <= cited


def test_a_failed_fold_keeps_the_checked_partial_points() -> None:
    def fold_fails(seen: Seen) -> str:
        if "You merge" in seen.system:
            return "sorry"
        return json.dumps({"points": faithful_points(seen.user)})

    with ScriptedServer(Script(responder=fold_fails)) as server:
        [written] = write_summaries([long_topic()], settings(server.url, max_input_tokens=2000))
    assert [s.message_id for s in written.summary] == [f"<{n}@long.example>" for n in range(9)]


def test_one_huge_message_is_cut_not_dropped() -> None:
    huge = Source("<big@x.example>", "Ann Example", "\n\n".join(f"Paragraph {n}. " + "word " * 300
                                                                for n in range(20)))
    chunks = chunk_sources([ANN, huge, BOB], 2000)
    parts = [s for chunk in chunks for s in chunk]
    assert parts[0].message_id == ANN.message_id and parts[-1].message_id == BOB.message_id
    assert " ".join(s.text for s in parts if s.message_id == huge.message_id).split() == huge.text.split()


def test_verbose_logs_counts_never_content_or_key(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-secret")
    with caplog.at_level(logging.DEBUG):
        write_summaries([TOPIC], settings(server.url, api_key_env="TEST_LLM_KEY"))
    assert "1 request(s)" in caplog.text and "prompt" in caplog.text and " s" in caplog.text
    for secret in ("sk-test-secret", "changelog", "September", "Release plan"):
        assert secret not in caplog.text


def test_a_refused_request_or_unknown_model_falls_back_with_a_hint(server: ScriptedServer) -> None:
    server.queue(Reply(404), *[Reply(400)] * 3)  # a 400 is tried with each response_format first
    first, second = write_summaries([TOPIC, TOPIC], settings(server.url, max_concurrency=1))
    assert first.fallback.startswith("no such model or URL (HTTP 404)")
    assert second.fallback.startswith("request refused (HTTP 400): is llm.max_input_tokens")
