"""`[n]` references kept as links, and sentences that only introduce what follows them left out.

Small hand-written messages: a marker whose reference the author listed at the
end of the message becomes a link in the Markdown and HTML digests (the JSON
keeps the plain sentence and the link beside it); a marker with no reference is
dropped; a sentence ending in ":" is mended with the short list it introduces,
or else never picked (the list or quote it announces is not in the summary),
and neither is the rest of a sentence that a dropped log interrupted.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from markdown_it import MarkdownIt

from bot.model import Digest, Item, Section, SummarySentence, Thread
from bot.pipeline.clean import clean_body
from bot.pipeline.summarize import Utterance, split_sentences, summarize_thread
from bot.pipeline.summarize.sentences import shown, tidy
from bot.render.digest import RenderOptions, render
from tests.test_render import mail

REVIEW_GUIDE = "https://example.org/review-guide"
POLICY = "https://example.org/policy"
BODY = (
    "Hi all,\n\n"
    "I think we should make sure patches get reviewed[2] before being applied,\n"
    "as the project policy already says [1].\n\n"
    "The nightly build of the tree has been broken on ARM since Tuesday [3].\n\n"
    "Thanks,\nBob\n\n"
    f"[1] {POLICY}.\n"
    f"[2]: <{REVIEW_GUIDE}>\n"
    "> [3] https://quoted.example.org/not-bobs-reference\n"
)


def _summary(body: str, words: int = 200) -> list[SummarySentence]:
    return summarize_thread([Utterance("<1@example.org>", "Bob Jones", clean_body(body).text)], words=words)


def _digest(summary: list[SummarySentence]) -> Digest:
    bob = mail("m1", "Bob Jones")
    item = Item(title="Reviews", threads=(Thread(root_id=bob.message_id, subject="Reviews", mails=(bob,)),),
                summary=tuple(summary))
    return Digest(title="Weekly", list_name="driftwood-devel", period_start=datetime(2014, 8, 18, tzinfo=UTC),
                  period_end=datetime(2014, 8, 25, tzinfo=UTC), chair="", attendees=("Bob Jones",),
                  sections=(Section("discussion", "Discussion", (item,)),))


# -- the clean stage finds the references ----------------------------------------------------------------


def test_a_marker_with_a_listed_reference_carries_its_url() -> None:
    text = clean_body(BODY).text
    assert f"reviewed[2]({REVIEW_GUIDE}) before" in text
    assert f"says [1]({POLICY})." in text  # the full stop after the reference line is not part of the URL
    assert "Tuesday [3]." in text  # a quoted reference is not the author's: the marker stays bare
    assert "example.org/policy." not in text.split("(")[0]  # the reference list itself is gone


def test_a_message_without_references_is_left_as_it_was() -> None:
    body = "We agreed on the plan [1] and the date [2] at the last call.\n"
    assert clean_body(body).text == "We agreed on the plan [1] and the date [2] at the last call."


# -- the summary keeps linked markers, drops bare ones -----------------------------------------------------


def test_the_summary_shows_linked_markers_and_drops_bare_ones() -> None:
    texts = [s.text for s in _summary(BODY)]
    assert (f"I think we should make sure patches get reviewed[2]({REVIEW_GUIDE}) before being applied, "
            f"as the project policy already says [1]({POLICY}).") in texts
    assert "The nightly build of the tree has been broken on ARM since Tuesday." in texts


def test_links_are_not_scored_as_words() -> None:
    linked = f"Patches get reviewed[2]({REVIEW_GUIDE}) before being applied."
    assert tidy(linked) == "Patches get reviewed before being applied."
    assert shown(linked) == linked
    assert shown("Patches get reviewed [2] before being applied [3].") == "Patches get reviewed before being applied."
    assert split_sentences(linked) == ["Patches get reviewed before being applied."]


# -- the rendered digest -----------------------------------------------------------------------------------


def test_markdown_and_html_show_the_marker_as_a_link() -> None:
    digest = _digest(_summary(BODY))
    markdown = render(digest, "markdown", RenderOptions())
    tokens = MarkdownIt().parseInline(" ".join(markdown.split()))
    links = [t for token in tokens for t in token.children or [] if t.type == "link_open"]
    assert {str(t.attrs["href"]) for t in links} == {REVIEW_GUIDE, POLICY}
    assert "reviewed[\\[2\\]](<" + REVIEW_GUIDE + ">) before" in " ".join(markdown.split())
    html = render(digest, "html", RenderOptions())
    assert re.search(f'reviewed<a href="{re.escape(REVIEW_GUIDE)}"[^>]*>\\[2\\]</a> before', html)
    assert re.search(f'says<a href="{re.escape(POLICY)}"[^>]*>\\[1\\]</a>\\.', html)
    text = render(digest, "text", RenderOptions())
    assert "[2]" not in text and "reviewed before being applied" in " ".join(text.split())


def test_json_keeps_the_plain_sentence_and_the_links_beside_it() -> None:
    data = json.loads(render(_digest(_summary(BODY)), "json", RenderOptions()))
    first = data["sections"][0]["threads"][0]["summary"][0]
    assert first["text"] == ("I think we should make sure patches get reviewed before being applied, "
                             "as the project policy already says.")
    assert first["links"] == [
        {"marker": "2", "url": REVIEW_GUIDE, "at": first["text"].index(" before")},
        {"marker": "1", "url": POLICY, "at": len(first["text"]) - 1},
    ]


def test_a_link_cannot_break_out_of_markdown_or_html() -> None:
    hostile = SummarySentence('Read this[1](https://example.org/a"onmouseover=x) and *that* <b>now</b>.', "<1>", "Eve")
    html = render(_digest([hostile]), "html", RenderOptions())
    assert 'href="https://example.org/a' not in html and "<b>now" not in html  # stays text: no link, no tag
    markdown = render(_digest([hostile]), "markdown", RenderOptions())
    assert "\\*that\\*" in markdown and "\\<b\\>" in markdown and "](<https://example.org/a" not in markdown


# -- sentences that introduce what follows them --------------------------------------------------------------


def test_a_sentence_ending_in_a_colon_is_never_picked() -> None:
    body = (
        "The release candidate is ready and the votes are open until Friday.\n\n"
        "These are the three changes that need a careful look before we vote:\n\n"
        "The new parser drops support for the old configuration format entirely.\n"
    )
    summary = _summary(body, words=500)
    assert summary
    assert all(not s.text.endswith(":") for s in summary)
    assert len(summary) == 2


def test_a_thread_of_nothing_but_introductions_still_gets_a_summary() -> None:
    summary = _summary("The full list of the regressions we found this week is below:\n", words=100)
    assert [s.text for s in summary] == ["The full list of the regressions we found this week is below:"]


def test_the_rest_of_a_sentence_after_a_dropped_log_is_never_picked() -> None:
    body = (
        "Spot on. With that printf in netif, a TCP run looks like this:\n\n"
        "[  12.041] tx: push with 255/256 free, notify=true\n"
        "[  12.042] rx: ack 1448 bytes, window 14480\n\n"
        "whereas UDP pushes batches of about 32 before notifying. So TCP never\n"
        "has more than one or two requests in flight at any time.\n"
    )
    texts = [s.text for s in _summary(body, words=500)]
    assert texts == ["So TCP never has more than one or two requests in flight at any time."]


def test_a_reference_whose_url_is_wrapped_to_the_next_line_is_found() -> None:
    body = "The fix is in[1] and waits for a second review.\n\n[1]:\nhttps://git.example.org/commit/d542d614fa65\n"
    assert clean_body(body).text == (
        "The fix is in[1](https://git.example.org/commit/d542d614fa65) and waits for a second review."
    )


def test_an_introduction_is_mended_with_the_short_list_it_introduces() -> None:
    body = (
        "Try the following link for basic info on using CGI with Apache httpd:\n"
        "- http://httpd.apache.org/docs/trunk/howto/cgi.html\n\n"
        "The logs of the failing runs are attached to the ticket as well.\n"
    )
    texts = [s.text for s in _summary(body, words=500)]
    assert texts == [
        "Try the following link for basic info on using CGI with Apache httpd: "
        "http://httpd.apache.org/docs/trunk/howto/cgi.html",
        "The logs of the failing runs are attached to the ticket as well.",
    ]


def test_an_introduction_to_a_long_list_is_not_mended_nor_picked() -> None:
    items = "".join(f"  *   S4-2111{n:02d} • S4-2112{n:02d}\n" for n in range(9))
    body = (f"I have just copied the updated change requests to the Inbox:\n\n{items}\n"
            "The deadline for comments is Friday noon.\n")
    texts = [s.text for s in _summary(body, words=500)]
    assert texts == ["The deadline for comments is Friday noon."]
