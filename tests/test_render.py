from __future__ import annotations

import email
import email.policy
import json
import re
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from bot.errors import RenderError
from bot.model import Digest, Item, Mail, Section, SummarySentence, Thread
from bot.render import FORMATS
from bot.render.digest import (
    RenderOptions,
    digest_subject,
    digest_to_dict,
    render,
    thread_url,
)
from bot.render.message import address_domain, digest_email

ARCHIVE = "https://lists.example.org/r/{message_id}"
OPTIONS = RenderOptions(
    archive_url=ARCHIVE,
    from_address="digestbot@example.org",
    to_address="driftwood-devel@example.org",
    reply_to="driftwood-devel@example.org",
    subject_prefix="[driftwood-devel]",
)
MAIL_HEADERS = {"From", "To", "Reply-To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"}


# -- factories -----------------------------------------------------------------


def mail(mid: str, author: str, day: int = 19) -> Mail:
    return Mail(message_id=f"<{mid}@example.org>", subject="s", from_name=author,
                from_addr=f"{mid}@example.org", date=datetime(2014, 8, day, 10, tzinfo=UTC))


def thread(*mails: Mail, subject: str = "topic") -> Thread:
    return Thread(root_id=mails[0].message_id, subject=subject, mails=mails)


def said(text: str, m: Mail) -> SummarySentence:
    return SummarySentence(text=text, message_id=m.message_id, author=m.author)


def item(title: str, *threads: Thread, summary: tuple[SummarySentence, ...] = (), **kw: Any) -> Item:
    return Item(title=title, threads=threads, summary=summary, **kw)


def digest(*sections: Section, chair: str = "Maya Okafor", attendees: tuple[str, ...] | None = None,
           title: str = "Weekly Meeting: 2014-08-20", next_call: datetime | None = None) -> Digest:
    names = {n for s in sections for i in s.items for n in i.participants}
    return Digest(
        title=title, list_name="driftwood-devel",
        period_start=datetime(2014, 8, 18, tzinfo=UTC), period_end=datetime(2014, 8, 25, tzinfo=UTC),
        chair=chair, attendees=attendees if attendees is not None else (chair, *sorted(names - {chair})),
        sections=sections, next_call=next_call,
    )


def sample() -> Digest:
    """Two sections, AOB given first on purpose: it must still come last."""
    a, d1, d2 = mail("m1", "Anil Madhavapeddy", 18), mail("m2", "Dave Scott"), mail("m3", "Dave Scott")
    conduit = item("Conduit merge", thread(a, d1, d2),
                   summary=(said("The HTTP request works end to end.", a),
                            said("We will add vchan support when ready.", d1),
                            said("The skeleton updates are minor.", d2)),
                   actions=("Dave Scott, add vchan support",))
    t = mail("m4", "Thomas Gazagnaire", 20)
    irmin = item("Irmin status update", thread(t), summary=(said("Cleaning up the queues work.", t),),
                 continued=True)
    m, a2 = mail("m5", "Maya Okafor", 21), mail("m6", "Anil Madhavapeddy", 21)
    call = item("Call hosting", thread(m, a2), summary=(said("A shared account would help.", m),),
                note="Proposal to move the call.")
    return digest(Section("aob", "Any other business", (call,)),
                  Section("discussion", "Discussion", (conduit, irmin)),
                  next_call=datetime(2014, 9, 2, 15, tzinfo=UTC))


def parse_eml(text: str) -> EmailMessage:
    msg = email.message_from_bytes(text.encode("utf-8"), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def part(msg: Message, ctype: str) -> str:
    for p in msg.walk():
        if p.get_content_type() == ctype:
            assert isinstance(p, EmailMessage)
            return str(p.get_content())
    raise AssertionError(f"no {ctype} part")


# -- small helpers ------------------------------------------------------------


def test_thread_url_quotes_the_message_id() -> None:
    assert thread_url("<a/b?c@x.org>", ARCHIVE) == "https://lists.example.org/r/a%2Fb%3Fc@x.org"
    assert thread_url("<a@x>", "https://arc.example/") == "https://arc.example/a@x"
    assert thread_url("<a@x>", "") == ""
    assert thread_url("", ARCHIVE) == ""


def test_subject_names_list_and_week() -> None:
    assert digest_subject(sample(), OPTIONS) == "[driftwood-devel] Weekly Meeting: 2014-08-20 (18–24 Aug 2014)"
    assert digest_subject(sample(), RenderOptions()).startswith("[driftwood-devel] Weekly")


@pytest.mark.parametrize(("start", "end", "label"), [
    (datetime(2014, 7, 28, tzinfo=UTC), datetime(2014, 8, 4, tzinfo=UTC), "28 Jul – 3 Aug 2014"),
    (datetime(2014, 12, 29, tzinfo=UTC), datetime(2015, 1, 5, tzinfo=UTC), "29 Dec 2014 – 4 Jan 2015"),
    (datetime(2014, 8, 18, tzinfo=UTC), datetime(2014, 8, 19, tzinfo=UTC), "18 Aug 2014"),
    (datetime(2014, 8, 18, tzinfo=UTC), datetime(2014, 8, 24, 23, 59, tzinfo=UTC), "18–24 Aug 2014"),
])
def test_period_label(start: datetime, end: datetime, label: str) -> None:
    d = Digest("T", "", start, end, "", (), ())
    assert digest_subject(d, RenderOptions()) == f"T ({label})"


def test_unknown_format() -> None:
    with pytest.raises(RenderError):
        render(sample(), "pdf", OPTIONS)


# -- json -----------------------------------------------------------------------


def test_json_structure_keys_and_types() -> None:
    data = digest_to_dict(sample(), OPTIONS)
    # open_actions and closed_actions: issue 13 (minutes that remember); coverage only for a digest from a store.
    assert set(data) == {"title", "list", "period", "chair", "attendees", "agenda", "sections", "stats", "next_call",
                         "open_actions", "closed_actions"}
    assert data["period"] == {"start": "2014-08-18T00:00:00+00:00", "end": "2014-08-25T00:00:00+00:00"}
    assert data["next_call"] == "2014-09-02T15:00:00+00:00"
    assert data["agenda"] == ["Conduit merge", "Irmin status update", "Call hosting"]
    assert [s["key"] for s in data["sections"]] == ["discussion", "aob"]
    assert data["stats"] == {"messages": 6, "threads": 3, "participants": 4}
    for section in data["sections"]:
        assert set(section) == {"key", "title", "threads"}
        for entry in section["threads"]:
            assert set(entry) == {"subject", "url", "message_ids", "participants", "message_count", "summary",
                                  "summary_by", "actions", "note", "continued",
                                  "action_ids", "continued_from", "late"}  # the last three: issue 13
            assert isinstance(entry["message_count"], int) and isinstance(entry["continued"], bool)
            assert all(isinstance(x, str) for x in entry["message_ids"] + entry["participants"] + entry["actions"])
            for sentence in entry["summary"]:
                assert set(sentence) == {"text", "message_id", "author"}
    conduit = data["sections"][0]["threads"][0]
    assert conduit["url"] == "https://lists.example.org/r/m1@example.org"
    assert conduit["message_ids"] == ["<m1@example.org>", "<m2@example.org>", "<m3@example.org>"]
    assert conduit["participants"] == ["Anil Madhavapeddy", "Dave Scott"]
    assert conduit["message_count"] == 3


def test_json_output_round_trips_and_is_deterministic() -> None:
    out = render(sample(), "json", OPTIONS)
    assert out.endswith("}\n") and out == render(sample(), "json", OPTIONS)
    assert json.loads(out) == digest_to_dict(sample(), OPTIONS)
    assert digest_to_dict(digest(next_call=None), OPTIONS)["next_call"] is None


# -- text -----------------------------------------------------------------------


def test_text_has_the_shape_of_minutes() -> None:
    out = render(sample(), "text", OPTIONS)
    lines = out.splitlines()
    assert lines[1] == "Weekly Meeting: 2014-08-20"
    assert "Chair: Maya Okafor" in lines
    assert "Attendees: Maya Okafor (chair), Anil Madhavapeddy, Dave Scott and" in out
    agenda = out.index("Agenda\n======")
    positions = [out.index(f"  - {title}") for title in ("Conduit merge", "Irmin status update", "Call hosting")]
    assert [agenda, *positions] == sorted([agenda, *positions])
    for title in ("Conduit merge", "Irmin status update", "Call hosting"):
        assert re.search(rf"^{title}\n-+$", out, re.M), title
    # Consecutive sentences by one author are one paragraph led by the name.
    assert "Dave Scott: We will add vchan support when ready. The skeleton updates\nare minor." in out
    assert "Action: Dave Scott, add vchan support" in lines
    assert "Thread: https://lists.example.org/r/m1@example.org" in lines
    assert "(continued from 20 August)" in lines  # the day its thread started (issue 13)
    assert "Proposal to move the call." in lines
    assert out.index("\nDiscussion\n==========") < out.index("\nAny other business\n=====")
    assert "Next call is scheduled for Tuesday 2 September 2014." in lines
    assert lines[-1] == "6 messages in 3 threads from 4 participants."
    assert all(len(line) <= 72 and line == line.rstrip() for line in lines)
    assert out.endswith(".\n") and "\n\n\n" not in out


def test_chair_who_did_not_write_still_comes_first() -> None:
    d = mail("m1", "Dave Scott")
    out = render(digest(Section("discussion", "Discussion", (item("X", thread(d)),)),
                        chair="Maya Okafor", attendees=("Dave Scott",)), "text", OPTIONS)
    assert "Attendees: Maya Okafor (chair) and Dave Scott." in out
    no_chair = render(digest(Section("discussion", "Discussion", (item("X", thread(d)),)),
                             chair="", attendees=("Dave Scott",)), "text", OPTIONS)
    assert "Attendees: Dave Scott." in no_chair and "(chair)" not in no_chair and "Chair:" not in no_chair


def test_stats_footer_counts_and_no_next_call() -> None:
    d = mail("m1", "Dave Scott")
    out = render(digest(Section("discussion", "Discussion", (item("X", thread(d)),))), "text", OPTIONS)
    assert out.endswith("\n1 message in 1 thread from 1 participant.\n")
    assert "Next call" not in out


# -- markdown -------------------------------------------------------------------


def test_markdown_has_front_matter_and_reference_shape() -> None:
    out = render(sample(), "markdown", OPTIONS)
    assert out.startswith("---\n")
    front, body = out[4:].split("\n---\n", 1)
    meta = yaml.safe_load(front)
    assert meta["subject"] == "Weekly Meeting: 2014-08-20"
    assert meta["author"] == {"name": "Maya Okafor"}
    assert str(meta["updated"]) == "2014-08-24"
    assert meta["description"] == "18–24 Aug 2014: Conduit merge, Irmin status update, Call hosting"
    assert meta["permalink"] == "weekly-meeting-2014-08-20"
    assert body.index("### Agenda ###") < body.index("Attendees: Maya Okafor (chair)") < body.index("### Notes ###")
    assert "    - Conduit merge\n" in body
    for title in ("Conduit merge", "Irmin status update", "Call hosting"):
        assert body.count(f"#### {title} ####") == 1
    assert "**Dave Scott**: We will add vchan support when ready." in body
    assert "See the [thread][thread-1]." in body
    assert "[thread-1]: https://lists.example.org/r/m1@example.org\n" in body
    assert body.index("### Discussion ###") < body.index("### Any other business ###")
    assert "Next call is scheduled for **Tuesday 2 September 2014**." in body


def test_markdown_escapes_mail_text() -> None:
    m = mail("m1", "[x](javascript:alert(1))")
    out = render(digest(Section("discussion", "Discussion", (
        item("<script>alert(1)</script> # not_a *heading*", thread(m),
             summary=(said("- a list? 1. no; <b>bold</b> &amp;", m),)),))), "markdown", OPTIONS)
    front, body = out[4:].split("\n---\n", 1)
    assert yaml.safe_load(front)["description"].endswith("<script>alert(1)</script> # not_a *heading*")  # data
    assert "<script>" not in body and "<b>" not in body
    assert r"#### \<script\>alert(1)\</script\> \# not\_a \*heading\* ####" in out
    assert r"**\[x\](javascript:alert(1))**: \- a list? 1. no; \<b\>bold\</b\> \&amp;" in out


def test_markdown_wrapped_lines_cannot_start_blocks() -> None:
    m = mail("m1", "Dave")
    words = " ".join(["word"] * 14) + " - 1. = + dash"
    out = render(digest(Section("d", "D", (item("X", thread(m), summary=(said(words * 3, m),)),))), "markdown",
                 OPTIONS)
    body = out.split("### Notes ###", 1)[1]
    for line in body.splitlines():
        if line.startswith("**Dave**") or not line:
            continue
        assert not re.match(r"[-+=]|\d+[.)]", line), line


# -- html -----------------------------------------------------------------------


def test_html_is_a_styled_document_with_dark_mode() -> None:
    out = render(sample(), "html", OPTIONS)
    assert out.lstrip().lower().startswith("<!doctype html>")
    assert '<meta name="color-scheme" content="light dark">' in out
    assert "@media (prefers-color-scheme: dark)" in out
    assert "max-width: 42em" in out  # inlined on the container
    assert '<h1 style="' in out and "Weekly Meeting: 2014-08-20</h1>" in out
    assert out.count("<h3 ") == 3
    assert 'href="https://lists.example.org/r/m1@example.org"' in out
    assert "Attendees:</strong> Maya Okafor (chair)" in out
    assert "Next call is scheduled for Tuesday 2 September 2014." in out
    assert out.index(">Discussion</h2>") < out.index(">Any other business</h2>")
    assert out == render(sample(), "html", OPTIONS)


def test_html_escapes_mail_text() -> None:
    m = mail("m1", "<img src=x onerror=alert(1)>")
    out = render(digest(Section("discussion", "Discussion", (
        item("<script>alert(1)</script>", thread(m), summary=(said('"><script>x</script>', m),)),))), "html", OPTIONS)
    assert "<script" not in out.lower() and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out


# -- eml ------------------------------------------------------------------------


def test_eml_is_multipart_alternative_with_all_headers() -> None:
    out = render(sample(), "eml", OPTIONS)
    msg = parse_eml(out)
    assert set(msg.keys()) == MAIL_HEADERS
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Subject"] == "[driftwood-devel] Weekly Meeting: 2014-08-20 (18–24 Aug 2014)"
    assert msg["Message-ID"] == "<digest-driftwood-devel-20140818-20140825@example.org>"
    assert msg["Date"] == "Mon, 25 Aug 2014 00:00:00 +0000"
    assert msg["Reply-To"] == "driftwood-devel@example.org"
    assert "Dave Scott: We will add vchan support" in part(msg, "text/plain")
    assert "prefers-color-scheme: dark" in part(msg, "text/html")
    assert out == render(sample(), "eml", OPTIONS)  # no random boundary, no clock


def test_eml_headers_optional_and_extra() -> None:
    options = RenderOptions(from_address="Digest Bot <bot@lists.example.org>", message_id="fixed@here")
    msg = parse_eml(render(sample(), "eml", options))
    assert "To" not in msg and "Reply-To" not in msg
    assert msg["Message-ID"] == "<fixed@here>"
    assert "Auto-Submitted" not in parse_eml(render(sample(), "eml", OPTIONS))
    built = digest_email("s", "t\n", "<p>h</p>\n", sender="bot@example.org", to="", reply_to="",
                         date=datetime(2014, 8, 25, tzinfo=UTC), message_id="fixed@here",
                         headers=[("Auto-Submitted", "auto-generated\r\nBcc: x@evil")])
    parsed = parse_eml(built.as_bytes().decode())
    assert set(parsed.keys()) == {"From", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
                                  "Auto-Submitted"}
    assert parsed["Auto-Submitted"] == "auto-generated Bcc: x@evil"
    assert parsed["Message-ID"] == "<fixed@here>"
    for bad in ("X-Bad\nName", "Content-Type", "MIME-Version", "From", "message-id"):
        with pytest.raises(RenderError):
            digest_email("s", "t\n", "h\n", sender="bot@example.org", to="", reply_to="",
                         date=datetime(2014, 8, 25, tzinfo=UTC), message_id="x@y", headers=[(bad, "v")])


def test_eml_default_message_id_uses_from_domain() -> None:
    msg = parse_eml(render(sample(), "eml", RenderOptions(from_address="Bot <bot@lists.example.org>")))
    assert msg["Message-ID"] == "<digest-driftwood-devel-20140818-20140825@lists.example.org>"


@pytest.mark.parametrize(("address", "domain"), [
    ("Dev List <devel@lists.example.org>", "lists.example.org"),
    ("devel@Lists.Example.org", "lists.example.org"),
    ('"a@b" <devel@lists.example.org>', "lists.example.org"),
    ("no-at-sign", ""), ("", ""), ("a@b@c", ""),
])
def test_address_domain_parses_the_address(address: str, domain: str) -> None:
    assert address_domain(address) == domain


def test_encoded_word_in_subject_cannot_inject_a_header() -> None:
    d = sample()
    evil = Digest(**{**{f: getattr(d, f) for f in d.__slots__}, "title": "=?utf-8?q?a=0ABcc:_x@evil?="})
    msg = parse_eml(render(evil, "eml", OPTIONS))
    assert set(msg.keys()) == MAIL_HEADERS and "\n" not in msg["Subject"]


# -- properties -----------------------------------------------------------------

nasty = st.one_of(
    st.text(),
    st.sampled_from(["\r\n", "\n.\n", "<script>alert(1)</script>", "\x00", "=?utf-8?q?a=0Ab?=", "Subject: x",
                     "\u2028X-Evil: 1", "\x85", "é" * 200, "\ufeff---", "- [x]", "#", "{{ d }}", "{% if %}"]),
    st.lists(st.sampled_from(["\r\nBcc: x", "<script>", "\x00", "ü", " ", "=?", "?=", "a" * 80]),
             max_size=8).map("".join),
)


def fuzzed(subject: str, author: str, sentence: str) -> Digest:
    # from_addr without a name part, so an empty author stays empty.
    m = Mail(message_id="<m1@example.org>", subject=subject, from_name=author, from_addr="@example.org",
             date=datetime(2014, 8, 19, tzinfo=UTC))
    entry = item(subject, thread(m, subject=subject), summary=(said(sentence, m), said(sentence, m)),
                 note=sentence, actions=(sentence,))
    return digest(Section("discussion", subject, (entry,)), chair=author, title=subject)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=nasty, author=nasty, sentence=nasty)
def test_eml_never_carries_an_injected_header(subject: str, author: str, sentence: str) -> None:
    msg = parse_eml(render(fuzzed(subject, author, sentence), "eml", OPTIONS))
    assert set(msg.keys()) == MAIL_HEADERS
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert not msg.defects
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=nasty, author=nasty, sentence=nasty)
def test_html_never_contains_a_script_tag(subject: str, author: str, sentence: str) -> None:
    out = render(fuzzed(subject, author, sentence), "html", OPTIONS)
    assert "<script" not in out.lower()


@settings(max_examples=150, deadline=None)
@given(subject=nasty, author=nasty, sentence=nasty)
def test_other_formats_never_crash(subject: str, author: str, sentence: str) -> None:
    d = fuzzed(subject, author, sentence)
    assert json.loads(render(d, "json", OPTIONS)) == digest_to_dict(d, OPTIONS)
    text = render(d, "text", OPTIONS)
    assert all(line == line.rstrip() for line in text.splitlines())
    md = render(d, "markdown", OPTIONS)
    meta = yaml.safe_load(md[4:].split("\n---\n", 1)[0])
    assert meta["subject"] == digest_to_dict(d, OPTIONS)["title"]


@settings(max_examples=150, deadline=None)
@given(subject=nasty, author=nasty, sentence=nasty)
def test_markdown_structure_survives_any_mail_text(subject: str, author: str, sentence: str) -> None:
    """Rendered as CommonMark, mail text adds no block, link, HTML or emphasis."""
    d = fuzzed(subject, author, sentence)
    body = render(d, "markdown", OPTIONS)[4:].split("\n---\n", 1)[1]
    html = MarkdownIt("commonmark").render(body)
    has_action = bool(digest_to_dict(d, OPTIONS)["sections"][0]["threads"][0]["actions"])
    assert html.count("<h3>") == 4 and html.count("<h4>") == 1  # "Open actions" is the fourth (issue 13)
    assert html.count("<ul>") == 2 + has_action and html.count("<li>") == 2 + has_action
    assert html.count("<a ") == 1 and "<script" not in html
    assert html.count("<em>") == 1 and html.count("<strong>") <= 1  # the stats line, the author
    for tag in ("<h1", "<h2", "<h5", "<ol", "<pre", "<hr", "<blockquote", "<img", "<code>"):
        assert tag not in html


def test_formats_constant() -> None:
    assert FORMATS == ("text", "html", "markdown", "json", "eml")
    for fmt in FORMATS:
        assert render(sample(), fmt, OPTIONS)


def test_without_archive_there_are_no_links() -> None:
    d = sample()
    for fmt in ("text", "markdown", "html"):
        out = render(d, fmt, RenderOptions())
        assert "Thread:" not in out and "[thread-1]" not in out and "href=\"http" not in out
    assert digest_to_dict(d, RenderOptions())["sections"][0]["threads"][0]["url"] == ""
