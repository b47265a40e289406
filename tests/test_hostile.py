"""Hostile mail in, nothing hostile out.

In: every message, however broken or huge, is stored byte for byte and comes
out parsed or flagged, never missing, never a crash, never a hang (each test
has a timeout); what passes a limit in LimitSettings is flagged and not
processed. Out: whatever a mail's subject, sender name or text holds, the mail
we send (digest, review mail, ready-made reply, notice to the chair) is valid
MIME whose headers carry no CR or LF from mail, and whose HTML has no tag or
attribute that the mail put there.

The samples are hand-written (tests/helpers/hostile_mail.py); nothing here needs ../shared.
"""

from __future__ import annotations

import email
import email.policy
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import ConfigError
from bot.mail.ingest import ingest
from bot.mail.parse import parse_mail
from bot.mail.smtp import Mailer
from bot.model import Digest, Item, Mail, RawMail, Section, SummarySentence, Thread
from bot.pipeline.clean import clean_body
from bot.pipeline.digest import build_digest, period_for, render_options
from bot.pipeline.thread import build_threads
from bot.render.digest import render
from bot.review import lifecycle
from bot.review.inbox import poll_list as poll
from bot.review.mail import (
    ReviewTag,
    digest_message,
    notice_message,
    parts_from_digest,
    parts_from_markdown,
    reply_draft,
    review_message,
)
from bot.review.notify import request_review
from bot.review.replies import is_for_bot, process_replies
from bot.review.tokens import review_token
from bot.settings import (
    DigestSettings,
    LimitSettings,
    ListSettings,
    ReviewSettings,
    Settings,
    SmtpSettings,
    load_settings,
    with_store,
)
from bot.store.database import Store, open_store
from bot.store.identity import identify, message_id_of, place
from bot.store.tables import messages
from tests.helpers import hostile_mail as hm
from tests.helpers.dovecot import Dovecot, write_config
from tests.helpers.reviewkit import make_digest, notices, parsed, reply, review_mails, settings_for, text_of

LIMITS = LimitSettings()
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def ingest_all(store: Store, raws: Sequence[bytes], limits: LimitSettings = LIMITS) -> dict[str, tuple[str, str]]:
    """Ingest `raws` and check each is stored byte for byte and parsed or flagged: {Message-ID: (state, flags)}."""
    report = ingest(store, [RawMail(raw, f"test#{i}") for i, raw in enumerate(raws)], limits, expected=len(raws))
    ids = [message_id_of(raw) for raw in raws]
    assert report.read == len(raws) and report.new == len(set(ids))
    assert report.parsed + report.flagged == report.new
    with store.engine.connect() as conn:
        rows = {r.message_id: r for r in conn.execute(sa.select(messages).where(messages.c.message_id.in_(ids)))}
    assert sorted(rows) == sorted(set(ids)), "every message is stored"
    raw_by_pk = dict(store.raw_of([r.id for r in rows.values()]))
    for mid, raw in zip(ids, raws, strict=True):
        row = rows[mid]
        assert raw_by_pk[row.id] == raw, f"{mid}: the stored bytes are the bytes received"
        assert row.state in ("parsed", "flagged"), f"{mid} left unparsed"
        assert (row.state == "flagged") == bool(row.flags), mid
    assert store.counts()["unparsed"] == 0
    return {mid: (row.state, row.flags) for mid, row in rows.items()}


def flags_of(found: dict[str, tuple[str, str]], n: str) -> set[str]:
    return set(found[f"<{n}@hostile.example>"][1].split())


# -- every hostile sample ----------------------------------------------------------------


@pytest.mark.timeout(120)
def test_every_hostile_sample_is_stored_and_parsed_or_flagged(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    raws = [make() for make in hm.SAMPLES.values()]

    found = ingest_all(store, raws)

    assert len(found) == len(hm.SAMPLES)
    assert {"too-deep", "unparsed"} <= flags_of(found, "nest-rfc822")
    assert {"too-deep", "unparsed"} <= flags_of(found, "nest-multipart")
    assert "bad-charset" in flags_of(found, "cs-unknown")
    assert "bad-header" in flags_of(found, "cs-header")
    by_id = {m.message_id: m for m in store.mails_by_ids(found)}
    # A multipart whose boundary is missing or never used still has text: it is read, and flagged.
    for name, text in (("b-unused", "The parts use another boundary."), ("b-missing", "No boundary parameter")):
        assert "bad-mime" in flags_of(found, name)
        assert text in by_id[f"<{name}@hostile.example>"].body
    assert by_id["<rfc2231@hostile.example>"].attachments[:2] == ("€ rates ü.pdf", "€part2 end.txt")
    assert by_id["<torture@hostile.example>"].body.startswith("The first part of the torture message.")
    assert by_id["<cs-jp@hostile.example>"].subject == "テスト"
    for mail in by_id.values():  # nothing from a header can carry a line break or a control character
        for value in (mail.subject, mail.from_name, mail.from_addr, *mail.references, *mail.attachments):
            assert value.isprintable(), (mail.message_id, value)
    injected = by_id["<inject@hostile.example>"]
    assert injected.subject == "Hi Bcc: victim@example.org"


@pytest.mark.timeout(120)
def test_a_week_of_hostile_mail_drafts_renders_and_goes_to_review(tmp_path: Path) -> None:
    settings_ = with_store(review_settings(), f"sqlite:///{tmp_path}/s.db")
    store = open_store(settings_.store_url)
    ingest_all(store, [make() for make in hm.SAMPLES.values()])
    start, end = period_for(settings_, week_of=datetime(2014, 8, 20), since=None, until=None)

    digest = build_digest(store, settings_, start, end)

    # Six have no readable date: they are dated when imported, outside this week.
    assert digest.stats["messages"] == len(store.mails_between(start, end)) == len(hm.SAMPLES) - 6
    for fmt in ("text", "markdown", "json", "eml"):
        assert render(digest, fmt, render_options(settings_))
    html_page = render(digest, "html", render_options(settings_))
    assert "<script" not in html_page.lower() and "&lt;script&gt;" in html_page
    parts, _data = parts_from_digest(digest, settings_)
    for msg in outgoing(parts, settings_):
        check_headers(msg.as_bytes(), header_names(msg))


@pytest.mark.timeout(300)
def test_hostile_samples_polled_from_dovecot_are_all_stored(dovecot: Dovecot, tmp_path: Path) -> None:
    raws = [make() for make in hm.SAMPLES.values()]
    # The same junk sent to the bot itself (where the chair's replies arrive) must not stop the poll either.
    to_bot = [raw.replace(b"To: dev@lists.example.org", b"To: digestbot@localhost", 1)
              .replace(b"@hostile.example>", b"@bot.hostile.example>") for raw in raws
              if b"To: dev@lists.example.org" in raw]
    to_bot.append(hm.head("bot-bomb", "approve", extra="To: digestbot@localhost, " + "(" * 5000 + "\n")
                  + b"\napprove\n")
    dovecot.deliver_files("INBOX", raws + to_bot)
    config = load_settings(write_config(tmp_path / "c.toml", dovecot, batch_size=7))

    report = poll(config)

    # Copies whose To cannot be read (a BOM before the header, a comment bomb) are list mail, and stored.
    as_list_mail = [raw for raw in to_bot if not is_for_bot(raw, config)]
    assert len(as_list_mail) == 3
    assert (report.folders[0].new, report.folders[0].fetched) == (len(raws) + 3, len(raws) + len(to_bot))
    store = open_store(config.store_url)
    counts = store.counts()
    assert counts["messages"] == len(raws) + 3 and counts["unparsed"] == 0
    assert counts["parsed"] + counts["flagged"] == len(raws) + 3


# -- limits --------------------------------------------------------------------------

HUGE = [
    ("50 MB message", hm.huge_message, "too-large", "huge"),
    ("10,000 parts", hm.many_parts, "too-many-parts", "many-parts"),
    ("100,000-line header", hm.long_header, "header-too-large", "long-header"),
    ("header folded over 100,000 lines", hm.folded_header, "header-too-large", "folded-header"),
    ("reference chain 10,000 deep", hm.deep_references, "too-many-references", "deep-refs"),
    ("1 MB subject", hm.huge_subject, "header-too-large", "huge-subject"),
]


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("what", "make", "flag", "name"), HUGE, ids=[h[0] for h in HUGE])
def test_one_huge_message_is_flagged_not_processed(tmp_path: Path, what: str, make: Any, flag: str,
                                                   name: str) -> None:
    raw = make()
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    started = time.monotonic()

    found = ingest_all(store, [raw, hm.boundary_empty()])  # and the message after it is not held up

    assert flag in flags_of(found, name)
    assert found["<b-empty@hostile.example>"][0] == "parsed"
    [mail] = store.mails_by_ids([f"<{name}@hostile.example>"])
    assert len(mail.subject) <= LIMITS.max_subject_chars + 1
    assert len(mail.references) <= LIMITS.max_references
    assert len(mail.body) < 100_000
    assert time.monotonic() - started < 60


@pytest.mark.timeout(120)
def test_limits_are_settings(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[limits]\nmax_parts = 20000\nmax_header_bytes = 4000000\nmax_subject_chars = 100\n"
                      "max_references = 20000\nmax_message_bytes = 1000\n")
    limits = load_settings(config).limits
    assert limits == LimitSettings(max_message_bytes=1000, max_parts=20_000, max_header_bytes=4_000_000,
                                   max_references=20_000, max_subject_chars=100)
    stamp = datetime(2014, 8, 20, tzinfo=UTC)
    loose = LimitSettings(max_parts=20_000, max_header_bytes=4_000_000, max_references=20_000,
                          max_subject_chars=100)
    many = parse_mail(hm.many_parts(), "<m>", stamp, loose)
    assert "too-many-parts" not in many.flags and many.body.strip() == "part 0"
    refs = parse_mail(hm.deep_references(), "<r>", stamp, loose)
    assert not refs.flags and len(refs.references) == 10_000
    subject = parse_mail(hm.huge_subject(), "<s>", stamp, loose)
    assert subject.flags == {"subject-too-long"} and len(subject.subject) == 101
    tight = parse_mail(hm.torture(), "<t>", stamp, limits)
    assert {"too-large", "unparsed"} <= tight.flags and tight.body == ""
    config.write_text("[limits]\nmax_parts = \"many\"\n")
    with pytest.raises(ConfigError, match=r"limits\.max_parts: expected an integer, not str"):
        load_settings(config)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_thread_10000_replies_deep_is_drafted(tmp_path: Path) -> None:
    settings_ = with_store(Settings(), f"sqlite:///{tmp_path}/s.db")
    store = open_store(settings_.store_url)
    chain = hm.reply_chain(10_000)
    ingest_all(store, chain)
    start, end = period_for(settings_, week_of=datetime(2014, 8, 20), since=None, until=None)

    digest = build_digest(store, settings_, start, end)

    [thread] = [t for s in digest.sections for i in s.items for t in i.threads]
    assert len(thread.mails) == 10_000
    assert any(i.summary for s in digest.sections for i in s.items)


@pytest.mark.timeout(180)
def test_one_long_message_cannot_exhaust_the_summarizer(tmp_path: Path) -> None:
    """2 MB of prose in one message is within the size limit; summarizing it must stay bounded."""
    rng = random.Random(7)
    words = ["release", "build", "patch", "review", "merge", "test", "docs", "bug", "fix", "plan", "vote"]
    prose = " ".join(" ".join(rng.choice(words) for _ in range(rng.randint(6, 14))).capitalize() + "."
                     for _ in range(40_000))
    big = hm.head("long-prose", "A very long message") + b"\n" + prose.encode() + b"\n"
    reply = hm.head("long-reply", "Re: A very long message", extra="In-Reply-To: <long-prose@hostile.example>\n") \
        + b"\nI agree with the plan to merge the branch this week.\n"
    settings_ = with_store(Settings(), f"sqlite:///{tmp_path}/s.db")
    store = open_store(settings_.store_url)
    ingest_all(store, [big, reply])
    start, end = period_for(settings_, week_of=datetime(2014, 8, 20), since=None, until=None)

    digest = build_digest(store, settings_, start, end)

    [item] = [i for s in digest.sections for i in s.items]
    assert item.summary and sum(len(s.text.split()) for s in item.summary) <= 200


# -- properties: any bytes in -------------------------------------------------------------

_HEADER_NAMES = st.sampled_from(["From", "To", "Cc", "Subject", "Date", "Message-ID", "References", "In-Reply-To",
                                 "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version",
                                 "Received", "X-Junk", "", " ", "Bad Name", "From ", "\x00", "Ümlaut"])
_HEADER_VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["multipart/mixed; boundary=x", "multipart/mixed", "message/rfc822", "text/plain; charset=bogus",
                     "base64", "quoted-printable", "=?utf-8?q?a=0Db?=", "=?x?B?////?=", "((((((a", "<a@b> <c",
                     "attachment; filename*=utf-8''%E2%82", "Tue, 99 Aug 2014 25:61:00 +9999", "\r\n\t", ""]),
)
_LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def mail_like(draw: st.DrawFn) -> bytes:
    """Bytes shaped like a mail: fuzzed headers, then a body with MIME-ish lines."""
    end = draw(_LINE_ENDS)
    headers = draw(st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), max_size=12))
    body_lines = draw(st.lists(st.one_of(st.text(max_size=60), st.sampled_from(
        ["--x", "--x--", "Content-Type: text/plain", "", "=ZZ", "begin 644 f", "From nobody", ">From x"])),
        max_size=20))
    text = end.join(f"{name}: {value}" for name, value in headers) + end + end + end.join(body_lines)
    encoding = draw(st.sampled_from(["utf-8", "latin-1", "utf-16"]))
    return text.encode(encoding, "replace")


@FUZZ
@given(data=st.one_of(st.binary(max_size=3000), mail_like()))
def test_any_bytes_are_stored_and_parsed_or_flagged(data: bytes) -> None:
    store = open_store("sqlite://")
    try:
        found = ingest_all(store, [data])
        [mail] = store.mails_by_ids(found)
        clean_body(mail.body)
        assert len(build_threads([mail])) == 1
        assert all(v.isprintable() for v in (mail.subject, mail.from_name, mail.from_addr))
    finally:
        store.engine.dispose()


@FUZZ
@given(text=st.text(max_size=3000))
def test_the_cleaner_takes_any_text(text: str) -> None:
    result = clean_body(text)
    assert isinstance(result.text, str)


# -- properties: nothing hostile out ------------------------------------------------------

SECRET = "hostile-test-secret-0123456789abcdef"
nasty = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["\r\nBcc: victim@example.org", "\n.\n", "<script>alert(1)</script>", "\x00", "=?utf-8?q?a=0Ab?=",
                     "\u2028X-Evil: 1", "\x85", '"><img src=x onerror=alert(1)>', "javascript:alert(1)",
                     "<a href=\"http://evil.example/\">x</a>", "&amp;&lt;", "{{ 7*7 }}", "=?", "é" * 300]),
    st.lists(st.sampled_from(["\r\nX-Evil: 1", "<b onclick=x>", "\x00", "ü", " ", "=?", "?=", "a" * 80, "\n"]),
             max_size=8).map("".join),
)


def review_settings() -> Settings:
    return Settings(
        list=ListSettings(name="driftwood-devel", address="driftwood-devel@lists.example.org",
                          archive_url="https://lists.example.org/r/{message_id}"),
        digest=DigestSettings(chair="Maya Okafor", chair_address="maya@example.org"),
        smtp=SmtpSettings(host="127.0.0.1", from_address="digestbot@example.org"),
        review=ReviewSettings(chair_addresses=("maya@example.org",)),
    )


def fuzzed(subject: str, author: str, sentence: str) -> Digest:
    m = Mail(message_id="<m1@example.org>", subject=subject, from_name=author, from_addr="a@example.org",
             date=datetime(2014, 8, 19, tzinfo=UTC))
    said = SummarySentence(sentence, m.message_id, author)
    entry = Item(title=subject, threads=(Thread(m.message_id, subject, (m,)),), summary=(said, said),
                 note=sentence, actions=(sentence,))
    return Digest(title=subject, list_name="driftwood-devel", period_start=datetime(2014, 8, 18, tzinfo=UTC),
                  period_end=datetime(2014, 8, 25, tzinfo=UTC), chair=author, attendees=(author,),
                  sections=(Section("discussion", subject, (entry,)),))


TAG = ReviewTag(1, 1, review_token(SECRET, 1, 1), datetime(2014, 8, 27, tzinfo=UTC), "the list")


def outgoing(parts: Any, settings_: Settings) -> list[EmailMessage]:
    """Every mail we build from a revision: to subscribers, to the chair, and the ready-made answer."""
    date = datetime(2014, 8, 26, tzinfo=UTC)
    return [
        digest_message(parts, settings_, message_id="<d@example.org>", to="ann@example.org", date=date,
                       headers={"List-Unsubscribe": "<mailto:unsubscribe@example.org?subject=x>"}),
        review_message(parts, settings_, TAG, to="maya@example.org", date=date),
        review_message(parts, settings_, TAG, to="maya@example.org", date=date, reminder=True),
        reply_draft(parts, settings_, TAG, chair="maya@example.org", date=date),
    ]


def header_names(msg: EmailMessage) -> list[str]:
    return sorted(msg.keys())


def check_headers(raw: bytes, expected: list[str]) -> EmailMessage:
    """Valid MIME, exactly the expected headers, each one logical line."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert sorted(msg.keys()) == expected
    assert not msg.defects, msg.defects
    for name, value in msg.items():
        assert "\r" not in str(value) and "\n" not in str(value), (name, value)
    head_block = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    for line in head_block.replace(b"\r\n", b"\n").split(b"\n"):
        assert b"\r" not in line and b"\x00" not in line
        assert line[:1] in (b" ", b"\t") or b":" in line, line  # a header, or the fold of one
    for part in msg.walk():
        assert not part.defects, part.defects
    return msg


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[tuple[str, tuple[str, ...]]] = Counter()
        self.values: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[(tag, tuple(sorted(name for name, _ in attrs)))] += 1
        self.values.update(value or "" for _, value in attrs)


def html_shape(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    return "" if part is None else str(cast(EmailMessage, part).get_content())


_BENIGN_SETTINGS = review_settings()
_BENIGN = [m for m in outgoing(parts_from_digest(fuzzed("Topic", "Ann", "Words here."), _BENIGN_SETTINGS)[0],
                               _BENIGN_SETTINGS)]


@FUZZ
@given(subject=nasty, author=nasty, sentence=nasty)
def test_every_mail_we_send_is_valid_mime_with_our_headers_only(subject: str, author: str, sentence: str) -> None:
    settings_ = review_settings()
    parts, _ = parts_from_digest(fuzzed(subject, author, sentence), settings_)
    for msg, benign in zip(outgoing(parts, settings_), _BENIGN, strict=True):
        parsed = check_headers(msg.as_bytes(), header_names(benign))
        assert [p.get_content_type() for p in parsed.walk()] == [p.get_content_type() for p in benign.walk()]
        if "[digestbot #" in str(benign["Subject"]):
            assert f"[digestbot #1 r1 {TAG.token}]" in str(parsed["Subject"])  # the token survives any subject


@FUZZ
@given(subject=nasty, author=nasty, sentence=nasty)
def test_no_tag_or_attribute_in_our_html_comes_from_mail(subject: str, author: str, sentence: str) -> None:
    settings_ = review_settings()
    parts, _ = parts_from_digest(fuzzed(subject, author, sentence), settings_)
    for msg, benign in zip(outgoing(parts, settings_), _BENIGN, strict=True):
        got, expected = html_shape(html_of(msg)), html_shape(html_of(benign))
        assert got.tags <= expected.tags, set(got.tags) - set(expected.tags)
        assert got.values <= expected.values, got.values - expected.values


@FUZZ
@given(markdown=nasty, extra=nasty)
def test_an_edited_revision_cannot_smuggle_html(markdown: str, extra: str) -> None:
    """The chair's edited Markdown (from a mail) becomes HTML with Markdown's tags only, never raw HTML."""
    parts = parts_from_markdown(f"# {extra}\n\n{markdown}\n\n[link]({extra})\n\n<div onclick=x>{markdown}</div>\n",
                                "Subject")
    shape = html_shape(parts.html)
    allowed = {"html", "head", "meta", "title", "body", "h1", "p", "a", "em", "strong", "code", "br", "ul", "ol",
               "li", "blockquote", "pre", "hr", "h2", "h3", "h4", "h5", "h6", "img", "table", "thead", "tbody",
               "tr", "th", "td"}
    assert {tag for tag, _ in shape.tags} <= allowed
    assert "<div" not in parts.html and "<script" not in parts.html.lower()
    for value in shape.values:
        assert not value.strip().lower().startswith(("javascript:", "vbscript:", "data:text/html"))


@FUZZ
@given(subject=nasty, body=nasty)
def test_a_notice_to_the_chair_carries_mail_text_in_its_body_only(subject: str, body: str) -> None:
    settings_ = review_settings()
    date = datetime(2014, 8, 26, tzinfo=UTC)
    benign = notice_message(settings_, to="maya@example.org", subject="x", body="y", date=date)
    msg = notice_message(settings_, to="maya@example.org", subject=subject, body=body, date=date)
    check_headers(msg.as_bytes(), header_names(benign))


class _Recorder:
    """Stands in for a Mailer: keeps what would have been sent."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send_message(self, msg: EmailMessage, recipients: Sequence[str]) -> None:
        self.sent.append(msg)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(subject=nasty, sender=nasty, body=nasty)
def test_an_ignored_hostile_reply_is_reported_without_injecting_anything(subject: str, sender: str,
                                                                         body: str) -> None:
    settings_ = replace(with_store(review_settings(), "sqlite://"), review=ReviewSettings(
        chair_addresses=("maya@example.org",), secret_env="DIGESTBOT_HOSTILE_SECRET"))
    os.environ["DIGESTBOT_HOSTILE_SECRET"] = SECRET
    store = open_store(settings_.store_url)
    recorder = _Recorder()
    mail = Mail(message_id="<r@x>", subject=f"Re: [digestbot #1 r1 {'0' * 20}] {subject}", from_name=sender,
                from_addr=f"{sender}@evil.example", date=datetime(2014, 8, 26, tzinfo=UTC), body="approve\n" + body)
    try:
        [result] = process_replies(store, settings_, [(mail, b"Subject: x\n\napprove\n")],
                                   mailer=cast(Mailer, recorder))
    finally:
        store.engine.dispose()
    assert result.action == "ignored"
    [notice] = recorder.sent
    benign = notice_message(settings_, to="maya@example.org", subject="x", body="y", date=datetime.now(UTC))
    check_headers(notice.as_bytes(), header_names(benign))


# -- hostile replies to review mail: nothing approves but the chair with the current token ---------


@pytest.fixture()
def review_env(tmp_path: Path, smtp_server: Any, review_secret: str) -> tuple[Settings, Store, Any]:
    settings_ = settings_for(tmp_path, smtp_server)
    return settings_, open_store(settings_.store_url), smtp_server


def _awaiting(env: tuple[Settings, Store, Any]) -> tuple[int, EmailMessage]:
    settings_, store, server = env
    draft = lifecycle.store_draft(store, settings_, make_digest(), "scheduler", "scheduler")
    request_review(store, settings_, draft.id, actor="scheduler", via="scheduler")
    return draft.id, review_mails(server)[-1]


def _forge(mail: EmailMessage, kind: str) -> bytes:
    token = str(mail["X-Digestbot-Token"]).split()[-1]
    bare_subject = str(mail["Subject"]).split("] ", 1)[1]
    if kind == "chair's address as the display name":
        return reply(mail, "approve\n").replace(b"From: Maya Okafor <maya@example.org>",
                                                b'From: "maya@example.org" <mallory@evil.example>')
    if kind == "a forged token in the header alone":
        return reply(mail, "approve\n", subject=f"Re: {bare_subject}", in_reply_to=False,
                     headers={"X-Digestbot-Token": f"#1 r1 {'ab' * 10}"})
    if kind == "a forged review Message-ID in In-Reply-To":
        raw = reply(mail, "approve\n", subject=f"Re: {bare_subject}", in_reply_to=False)
        return raw.replace(b"\nMessage-ID:", f"\nIn-Reply-To: <review.1.r1.{'c' * 20}.0@example.org>\nMessage-ID:"
                           .encode(), 1)
    if kind == "a token of revision 2 that was never mailed":
        return reply(mail, "approve\n", subject=str(mail["Subject"]).replace(f"r1 {token}", f"r2 {token}"),
                     in_reply_to=False)
    raise AssertionError(kind)


FORGED = ["chair's address as the display name", "a forged token in the header alone",
          "a forged review Message-ID in In-Reply-To", "a token of revision 2 that was never mailed"]


@pytest.mark.parametrize("kind", FORGED)
def test_more_forged_approvals_are_refused_and_logged(review_env: tuple[Settings, Store, Any], kind: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    settings_, store, server = review_env
    digest_id, mail = _awaiting(review_env)
    with caplog.at_level(logging.WARNING, logger="digestbot.review"):
        [result] = process_replies(store, settings_, [parsed(_forge(mail, kind), settings_)])

    assert result.action == "ignored", result
    assert lifecycle.get(store, digest_id).state == "awaiting"
    assert [t.to_state for t in lifecycle.history(store, digest_id)] == ["drafted", "awaiting"]
    assert any("ignored reply" in r.getMessage() and result.reason in r.getMessage() for r in caplog.records)
    [notice] = notices(server)
    assert result.reason in text_of(notice)


def test_a_token_used_once_never_works_again_in_any_form(review_env: tuple[Settings, Store, Any],
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """Replays: the same token in the subject, the header, or In-Reply-To of a new mail, after it was used."""
    settings_, store, _server = review_env
    digest_id, mail = _awaiting(review_env)
    first = reply(mail, "reject not this week\n")
    assert process_replies(store, settings_, [parsed(first, settings_)])[0].action == "rejected"
    bare_subject = str(mail["Subject"]).split("] ", 1)[1]
    replays = [
        reply(mail, "approve\n"),
        reply(mail, "approve\n", subject=f"Re: {bare_subject}", in_reply_to=False,
              headers={"X-Digestbot-Token": str(mail["X-Digestbot-Token"])}),
        reply(mail, "approve\n", subject=f"Re: {bare_subject}"),
    ]
    with caplog.at_level(logging.WARNING, logger="digestbot.review"):
        results = process_replies(store, settings_, [parsed(raw, settings_) for raw in replays])

    assert [r.action for r in results] == ["ignored"] * 3
    assert all("replay" in r.reason for r in results), results
    assert lifecycle.get(store, digest_id).state == "rejected"
    assert sum("replay" in r.getMessage() for r in caplog.records) == 3


# -- any reply graph: each message of the week in exactly one thread of the digest --------------

_GRAPH_IDS = st.sampled_from([f"g{i}" for i in range(10)])


@st.composite
def reply_graph(draw: st.DrawFn) -> list[bytes]:
    """Up to 12 mails whose References and In-Reply-To point anywhere: themselves, loops, missing mails."""
    out = []
    for mid in draw(st.lists(_GRAPH_IDS, max_size=12)):
        refs = " ".join(f"<{r}@graph.example>" for r in draw(st.lists(_GRAPH_IDS, max_size=4)))
        parent = draw(st.none() | _GRAPH_IDS)
        subject = draw(st.sampled_from(["Topic", "Re: Topic", "Other", "Re: Re: other", "", "[PATCH 1/2] x"]))
        minute = draw(st.integers(0, 59))
        lines = [f"From: {mid} <{mid}@example.org>", f"Subject: {subject}",
                 f"Date: Wed, 20 Aug 2014 10:{minute:02d}:00 +0000", f"Message-ID: <{mid}@graph.example>"]
        if refs:
            lines.append(f"References: {refs}")
        if parent:
            lines.append(f"In-Reply-To: <{parent}@graph.example>")
        out.append("\n".join([*lines, "", f"Text of {mid}: the plan is to release the build on Friday.", ""]).encode())
    return out


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(raws=reply_graph())
def test_any_reply_graph_puts_each_message_in_exactly_one_thread_of_the_digest(raws: list[bytes]) -> None:
    settings_ = with_store(Settings(), "sqlite://")
    store = open_store(settings_.store_url)
    try:
        ingest(store, [RawMail(raw, "graph") for raw in raws], LIMITS, expected=len(raws))
        start, end = period_for(settings_, week_of=datetime(2014, 8, 20), since=None, until=None)
        digest = build_digest(store, settings_, start, end)
    finally:
        store.engine.dispose()
    placed = Counter(m.message_id for s in digest.sections for i in s.items for t in i.threads for m in t.new_mails)
    # One place for each distinct message: two with one Message-ID but other content are both kept (issue 12).
    assert placed == Counter({spot.key: 1 for spot in place([identify(raw) for raw in raws], {})})
    assert digest.stats["messages"] == len(placed)
