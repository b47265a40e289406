"""`strategy = "llm"` end to end: the CLI drafts against a scripted server, and the chair is told."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.model import ModelReport, SummarySentence
from bot.render.digest import RenderOptions, render
from bot.review import lifecycle
from bot.review.notify import request_review
from bot.settings import load_settings
from bot.store.database import open_store
from tests.helpers.llm_server import INVENTED_PERSON, INVENTED_VERSION, ScriptedServer, dead_url
from tests.helpers.mailfactory import make_raw, mbox_of
from tests.helpers.reviewkit import CHAIR, make_digest, only, settings_for, text_of
from tests.helpers.smtp_server import SmtpServer

SCRIPT = str(Path(sys.executable).parent / "digestbot")
KEY = "sk-never-shown-0123456789"
BODIES = {
    1: "We agreed to release 2.0 on 1 September.\n\nThe branch for it is cut on Monday.\n",
    2: "I will prepare the changelog by Friday.\n",
    3: "The CI runners for ARM are down again since Tuesday.\n",
    4: "I restarted runner 3 and filed ticket 4711 with the host.\n",
}


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


def week(tmp_path: Path, base_url: str, extra: str = "") -> Path:
    """A config with strategy = "llm" and a store holding a small week of two threads."""
    config = tmp_path / "digestbot.toml"
    config.write_text(
        '[list]\nname = "dev"\naddress = "dev@lists.example.org"\n'
        'archive_url = "https://archive.example.org/{message_id}"\n'
        '[store]\npath = "store.sqlite3"\n[digest]\nchair = "Ann Example"\nstrategy = "llm"\n'
        f'[llm]\nbase_url = "{base_url}"\nmodel = "scripted-model"\napi_key_env = "TEST_LLM_KEY"\n'
        f"timeout_seconds = 5\nretries = 1\n{extra}",
        encoding="utf-8",
    )
    mbox = tmp_path / "week.mbox"
    mbox.write_bytes(mbox_of([
        make_raw(1, subject="Release plan for 2.0", body=BODIES[1]),
        make_raw(2, subject="Re: Release plan for 2.0", sender="Bob Builder <bob@example.org>", body=BODIES[2],
                 reply_to=1),
        make_raw(3, subject="ARM runners down", sender="Carol Jones <carol@example.org>", body=BODIES[3]),
        make_raw(4, subject="Re: ARM runners down", sender="Dan Smith <dan@example.org>", body=BODIES[4],
                 reply_to=3),
    ]))
    assert run("--config", str(config), "import", str(mbox)).returncode == 0
    return config


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TEST_LLM_KEY": KEY}
    env.pop("DIGESTBOT_CONFIG", None)
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=env, timeout=120)


def draft(config: Path, fmt: str = "json", *flags: str) -> subprocess.CompletedProcess[str]:
    result = run(*flags, "--config", str(config), "draft", "--week-of", "2014-08-20", "--format", fmt)
    assert result.returncode == 0, result.stderr
    return result


def threads(data: Any) -> list[Any]:
    return [t for s in data["sections"] for t in s["threads"]]


def test_a_week_drafts_with_only_verified_points(tmp_path: Path, server: ScriptedServer) -> None:
    config = week(tmp_path, server.url)
    data = json.loads(draft(config).stdout)
    items = threads(data)
    assert len(items) == 2 and {t["summary_by"] for t in items} == {"llm:scripted-model"}
    sentences = {" ".join(p.split()) for body in BODIES.values() for p in body.split("\n\n")}
    for item in items:
        assert item["summary"]
        for point in item["summary"]:
            assert point["text"] in sentences  # the scripted server's faithful points, and nothing else
            assert set(point["message_ids"]) <= set(item["message_ids"])
            assert point["message_id"] == point["message_ids"][0]
    text = json.dumps(data)
    assert INVENTED_PERSON not in text and INVENTED_VERSION not in text and "Everyone agreed" not in text
    checks = data["model_checks"]
    assert checks["items_written"] == 2 and checks["fallbacks"] == []
    assert set(checks["points_dropped"]) == {"cites no message", "cites a message outside its item",
                                             "repeats a kept point",
                                             "states a number, date, version, URL or name its messages do not contain",
                                             "attributes words or acts to someone who wrote none of its messages"}
    # Bob's point is attributed to Bob and linked to his message, like an extract.
    release = next(t for t in items if t["subject"] == "Release plan for 2.0")
    assert [(p["author"], p["message_id"]) for p in release["summary"]][-1] == (
        "Bob Builder", "<2@test.example>")


def test_text_and_html_say_which_items_a_model_wrote(tmp_path: Path, server: ScriptedServer) -> None:
    config = week(tmp_path, server.url)
    text = draft(config, "text").stdout
    assert text.count("(Summary written by a language model, scripted-model;") == 2
    html = draft(config, "html").stdout
    assert html.count('class="model-note"') == 2


def test_verbose_shows_counts_never_the_key_or_the_mail(tmp_path: Path, server: ScriptedServer) -> None:
    config = week(tmp_path, server.url)
    before = len(server.seen)
    result = draft(config, "json", "--verbose")
    assert "request(s)" in result.stderr and "completion tokens" in result.stderr
    for secret in (KEY, "changelog", "runner", "Release plan"):
        assert secret not in result.stderr
    assert server.seen[before].headers["authorization"] == f"Bearer {KEY}"  # the key is used, only on the wire
    saved = run("--verbose", "--config", str(config), "draft", "--week-of", "2014-08-20", "--save")
    assert saved.returncode == 0, saved.stderr
    assert "stored draft #1" in saved.stdout and KEY not in saved.stdout + saved.stderr
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):  # the store with its -wal, the config, the mbox
        assert KEY.encode() not in path.read_bytes(), path


def test_with_the_server_down_the_week_drafts_extractively_and_says_so(tmp_path: Path) -> None:
    config = week(tmp_path, dead_url())
    result = draft(config)
    data = json.loads(result.stdout)
    assert {t["summary_by"] for t in threads(data)} == {"lexrank"}
    assert all(t["summary"] for t in threads(data))
    assert "server unreachable" in result.stderr and "extractive summary (lexrank)" in result.stderr
    assert data["model_checks"]["items_written"] == 0
    assert {f["reason"] for f in data["model_checks"]["fallbacks"]} == {"server unreachable"}
    assert "language model" not in draft(config, "text").stdout


def test_extractive_digests_say_their_strategy_and_nothing_else(tmp_path: Path) -> None:
    config = week(tmp_path, dead_url())
    config.write_text(config.read_text(encoding="utf-8").replace('strategy = "llm"', 'strategy = "lead"'),
                      encoding="utf-8")
    data = json.loads(draft(config).stdout)
    assert {t["summary_by"] for t in threads(data)} == {"lead"} and "model_checks" not in data


def test_the_llm_settings_are_checked_when_loaded(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[digest]\nstrategy = "llm"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"needs llm\.base_url and llm\.model"):
        load_settings(config)
    for bad, message in (('base_url = "localhost:11434"', "not an http"), ("max_concurrency = 0", "at least 1"),
                         ("max_input_tokens = 10", "at least 1000"), ('fallback = "llm"', "must be one of")):
        url = "" if bad.startswith("base_url") else 'base_url = "http://127.0.0.1:1/v1"\n'
        config.write_text(f'[digest]\nstrategy = "llm"\n[llm]\n{url}model = "m"\n{bad}\n', encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_settings(config)
    config.write_text('[llm]\nmodel = "m"\napi_key_file = "key.txt"\n', encoding="utf-8")
    settings = load_settings(config)
    assert settings.llm.api_key_file == str(tmp_path / "key.txt") and settings.digest.strategy == "lexrank"


def test_the_review_mail_tells_the_chair_what_the_checks_dropped(tmp_path: Path, smtp_server: SmtpServer,
                                                                 review_secret: str) -> None:
    settings = settings_for(tmp_path, smtp_server)
    digest = make_digest()
    item = digest.sections[0].items[0]
    point = SummarySentence("The HTTP request works end to end.", "<m1@example.org>", "Anil Madhavapeddy",
                            ("<m1@example.org>",))
    item = replace(item, summary=(point,), summary_by="llm:scripted-model")
    report = ModelReport("scripted-model", 1, 1, (("repeats a kept point", 2), ("cites no message", 1)),
                         (("Conduit slides", "server error (HTTP 500) after retries"),))
    digest = replace(digest, sections=(replace(digest.sections[0], items=(item,)),), model_report=report)
    store = open_store(settings.store_url)
    info = lifecycle.store_draft(store, settings, digest, "ann", "cli")
    request_review(store, settings, info.id, actor="ann", via="cli")
    body = text_of(only(smtp_server.to(CHAIR)).message)
    note = body.split("-" * 72)[0]
    assert "A language model (scripted-model) wrote 1 of 2 item summaries" in note
    assert "The checks dropped 3 point(s):" in note
    assert "a point that repeats a kept point: 2" in note and "a point that cites no message: 1" in note
    assert "Conduit slides: server error (HTTP 500) after retries" in note
    assert "Summary written by a language model, scripted-model;" in body  # the digest itself marks the item


def test_a_model_point_renders_like_an_extract_with_its_authors() -> None:
    digest = make_digest()
    item = digest.sections[0].items[0]
    point = SummarySentence("Both agree on the HTTP request.", "<m1@example.org>",
                            "Anil Madhavapeddy and Dave Scott", ("<m1@example.org>", "<m2@example.org>"))
    digest = replace(digest, sections=(replace(digest.sections[0], items=(
        replace(item, summary=(point,), summary_by="llm:qwen2.5:7b"),)),))
    options = RenderOptions(archive_url="https://lists.example.org/r/{message_id}")
    text = render(digest, "text", options)
    assert "Anil Madhavapeddy and Dave Scott: Both agree on the HTTP request." in text
    assert "(Summary written by a language model, qwen2.5:7b;" in text
    html = render(digest, "html", options)
    assert 'href="https://lists.example.org/r/m1@example.org"' in html
    markdown = render(digest, "markdown", options)
    assert "*Summary written by a language model, qwen2.5:7b;" in markdown
    data = json.loads(render(digest, "json", options))
    summary = threads(data)[0]["summary"]
    assert summary == [{"text": "Both agree on the HTTP request.", "message_id": "<m1@example.org>",
                        "author": "Anil Madhavapeddy and Dave Scott",
                        "message_ids": ["<m1@example.org>", "<m2@example.org>"]}]
