"""Summaries worth keeping: what counts, who said it, what survives, what a chair never quotes.

Each rule of the digest-quality issue on small hand-written threads, through
`build_digest` (the pipeline a chair's draft comes from) where the rule is about
an agenda item, and through `summarize_thread` where it is about sentences.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from bot.model import Digest, Item, Mail, Thread
from bot.pipeline.digest import build_digest
from bot.pipeline.items import item_budget, take_actions
from bot.pipeline.summarize import STRATEGIES, Utterance, summarize_thread
from bot.pipeline.summarize.bonus import information_bonus, noise_penalty, position_bonus
from bot.settings import DigestSettings, Settings
from bot.store.database import Store
from tests.test_group import mail

START = datetime(2014, 8, 18, tzinfo=UTC)
END = START + timedelta(days=7)


class _Store:
    """The queries build_digest makes, over a list of mails (and no earlier digest)."""

    def __init__(self, mails: Iterable[Mail]) -> None:
        self.mails = list(mails)

    def mails_between(self, start: datetime, end: datetime) -> list[Mail]:
        return [m for m in self.mails if start <= m.date < end]

    def mails_by_ids(self, ids: Iterable[str]) -> list[Mail]:
        wanted = set(ids)
        return [m for m in self.mails if m.message_id in wanted]

    def late_mails(self, start: datetime, end: datetime) -> list[Mail]:
        return []  # no earlier digest: nothing is late

    def taken_elsewhere(self, start: datetime, end: datetime) -> set[str]:
        return set()

    def carried_actions(self, start: datetime, end: datetime) -> list[object]:
        return []


def digest_of(*mails: Mail, words: int = 60, strategy: str = "lexrank") -> Digest:
    settings = Settings(digest=DigestSettings(chair="Maya Okafor", summary_words=words,
                                              strategy=strategy))  # type: ignore[arg-type]
    return build_digest(cast(Store, _Store(mails)), settings, START, END)


def only_item(digest: Digest) -> Item:
    items = [item for section in digest.sections for item in section.items]
    assert len(items) == 1, [i.title for i in items]
    return items[0]


def summary_text(item: Item) -> str:
    return " ".join(s.text for s in item.summary)


# --- only the author's own words count -----------------------------------------------------------

REPLY = """Hi Rohan,

On Mon, 18 Aug 2014, Rohan Mehta wrote:
> The room was full and the questions ran well over time.
> Slides will follow.

Thanks!

The console daemon is the easy one: I measured 40 000 small writes per second on my laptop.

    let free = Ring.Front.get_free_requests t.tx_ring in
    if free > 200 then flush t

[ 12.041] tx: push with 255/256 free, notify=true
[ 12.042] rx: ack 1448 bytes, window 14480

diff --git a/ring.ml b/ring.ml
--- a/ring.ml
+++ b/ring.ml
@@ -1,2 +1,2 @@
-let batch = 1
+let batch = 32

Cheers,
Thibault

--
Thibault Lefevre, Marine Labs
_______________________________________________
dev mailing list
https://lists.example.org/mailman/listinfo/dev
"""


def test_only_text_the_author_wrote_in_this_message_is_summarized() -> None:
    item = only_item(digest_of(
        mail("a", "Feedback from my talk", "Rohan Mehta", "The room was full and the questions ran well over time.",
             hours=1),
        mail("b", "Re: Feedback from my talk", "Thibault Lefevre", REPLY, hours=2, reply_to="a"),
        words=200,
    ))
    by_author = {s.author: s.text for s in item.summary}
    assert by_author["Thibault Lefevre"] == (
        "The console daemon is the easy one: I measured 40 000 small writes per second on my laptop."
    )
    text = summary_text(item)
    for noise in ("Hi Rohan", "Slides will follow", "Thanks", "Ring.Front", "12.041", "diff --git", "batch",
                  "Cheers", "Marine Labs", "mailing list"):
        assert noise not in text


@pytest.mark.parametrize("chatter", ["That would be great, thanks.", "Sounds good to me!", "Thanks a lot for this.",
                                     "Thanks for the clarification, it sounds good to me."])
def test_thanks_and_agreement_alone_are_never_picked(chatter: str) -> None:
    thread = [Utterance("<a>", "Ann", "The ring has 256 slots and TCP uses one."), Utterance("<b>", "Bob", chatter)]
    assert [s.author for s in summarize_thread(thread, words=500)] == ["Ann"]


def test_plus_one_is_counted_as_support_not_quoted() -> None:
    item = only_item(digest_of(
        mail("a", "Move the call to GoToMeeting", "Maya Okafor", "I propose we move the weekly call to GoToMeeting "
             "so that people can dial in by phone.", hours=1),
        mail("b", "Re: Move the call to GoToMeeting", "Ewan Strachan", "+1\n\nThanks,\nEwan", hours=2, reply_to="a"),
        mail("c", "Re: Move the call to GoToMeeting", "Priya Natarajan", "+1 (non-binding)", hours=3, reply_to="a"),
        mail("d", "Re: Move the call to GoToMeeting", "Graham Whitlock", "Thanks!", hours=4, reply_to="a"),
        mail("e", "Re: Move the call to GoToMeeting", "Rohan Mehta", "+1, and thanks for sorting this out. "
             "Citrine could pay for the account.", hours=5, reply_to="a"),
        words=200,
    ))
    assert item.note == "Support: +1 from Ewan Strachan, Priya Natarajan and Rohan Mehta."
    assert [(s.author, s.text) for s in item.summary][1:] == [("Rohan Mehta", "Citrine could pay for the account.")]
    assert "+1" not in summary_text(item) and "Thanks" not in summary_text(item)


def test_a_vote_shows_both_sides() -> None:
    item = only_item(digest_of(
        mail("a", "[VOTE] Release Foo 1.2", "Robert Scholte", "Please vote on releasing Foo 1.2 within 72 hours.",
             hours=1),
        mail("b", "Re: [VOTE] Release Foo 1.2", "Olivier Lamy", "+1", hours=2, reply_to="a"),
        mail("c", "Re: [VOTE] Release Foo 1.2", "Hervé Boutemy", "-1: the source archive misses the license file.",
             hours=3, reply_to="a"),
    ))
    assert item.note == "Votes: +1 from Olivier Lamy; -1 from Hervé Boutemy."


# --- attribution, order, no repeats --------------------------------------------------------------


def test_each_sentence_is_attributed_in_discussion_order_and_appears_once() -> None:
    item = only_item(digest_of(
        mail("a", "TCP throughput", "Kasper Lindqvist", "TCP reaches 11 MB/s on the board while UDP reaches 18 MB/s.",
             hours=1),
        mail("b", "Re: TCP throughput", "Rohan Mehta", "The TCP path notifies the backend after every request. "
             "TCP reaches 11 MB/s on the board while UDP reaches 18 MB/s.", hours=2, reply_to="a"),
        mail("c", "Re: TCP throughput", "Kasper Lindqvist", "Batching 32 requests per notify brings TCP to 14 MB/s.",
             hours=3, reply_to="b"),
        words=500,
    ))
    assert [(s.author, s.message_id) for s in item.summary] == [
        ("Kasper Lindqvist", "<a>"), ("Rohan Mehta", "<b>"), ("Kasper Lindqvist", "<c>"),
    ]
    texts = [s.text for s in item.summary]
    assert len(texts) == len(set(texts))


# --- numbers, decisions and actions survive ------------------------------------------------------


def test_measurements_dates_and_decisions_are_preferred() -> None:
    chatter = "That sounds really nice and I am glad people liked it so much."
    facts = [
        "Boot time per guest goes from 0.3 s to over 2 s once the queue backs up.",
        "We agreed to ship v0.9.1 on 29 August with the UDP fix only.",
    ]
    for fact in facts:
        assert information_bonus(fact) > information_bonus(chatter)
        thread = [Utterance("<a>", "Ann", f"{chatter} {fact}"), Utterance("<b>", "Bob", chatter.replace("so", "very"))]
        assert [s.text for s in summarize_thread(thread, words=18)] == [fact]


def test_an_action_is_listed_once_as_who_what_with_its_whole_sentence() -> None:
    body = ("I've added the roadmap to the agenda for the next call.\n\n"
            "ACTION: Rohan to draft the 3.0 roadmap page on the wiki before the\n"
            "2 September call; everyone else to add their own area to it.\n")
    item = only_item(digest_of(
        mail("a", "Roadmap", "Rohan Mehta", "People asked for a roadmap around the headline features for 3.0.",
             hours=1),
        mail("b", "Re: Roadmap", "Maya Okafor", body, hours=2, reply_to="a"),
        words=200,
    ))
    assert item.actions == (
        "Rohan Mehta, draft the 3.0 roadmap page on the wiki before the 2 September call; "
        "everyone else to add their own area to it",
    )
    assert "draft the 3.0 roadmap" not in summary_text(item)
    assert "agenda for the next call" in summary_text(item)


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("ACTION: I will send the dial-in numbers on Monday.", "Maya Okafor, send the dial-in numbers on Monday"),
        ("Action: Graham: check the budget with finance.", "Graham Whitlock, check the budget with finance"),
        ("TODO: everyone to add their area to the wiki.", "Everyone, add their area to the wiki"),
        ("ACTION: update the download page.", "Maya Okafor, update the download page"),
        ("Action items:\n\n- Dave will add vchan support\n\n- Priya to tag 0.9.2", "Dave, add vchan support"),
    ],
)
def test_action_owners(text: str, action: str) -> None:
    taken = take_actions(text, "Maya Okafor", ("Maya Okafor", "Graham Whitlock", "Priya Natarajan"))
    assert taken.items[0] == action
    assert "ACTION" not in taken.text and "Action" not in taken.text


# --- what minutes never quote --------------------------------------------------------------------


@pytest.mark.parametrize(
    "noise",
    [
        "Source release checksum(s): maven-javadoc-plugin-3.0.0-source-release.zip sha1: 9f70c385b6be7666f35b5a24ede",
        "The slides from Monday's talk are up:",
        "See https://maven.apache.org/plugins/maven-jdeprscan-plugin/download.html for details.",
        "Peter Lipp, TU Graz, Email peter.lipp@iaik.example Phone +43 316 873 5513",
        "[ 12.041] tx: push with 255/256 free, notify=true [ 12.042] rx: ack 1448 bytes",
        "let free = Ring.Front.get_free_requests t.tx_ring in if free > 200 then",
    ],
)
def test_noise_is_held_down(noise: str) -> None:
    assert noise_penalty(noise) < 0
    prose = "The release needs one more binding vote before Friday."
    thread = [Utterance("<a>", "Ann", f"{noise}\n\n{prose}")]
    assert [s.text for s in summarize_thread(thread, words=12)] == [prose]


@pytest.mark.parametrize(
    "prose",
    [
        "I think the JDK 1.7.0_80 build (when Robert used 1.7.0_55) differs in constant pool order.",
        "ARP: expire cache entries after 60 s instead of never (#91).",
        "I can write up a strawman framing (fixed 16-byte header, no transactions) by Friday.",
    ],
)
def test_prose_with_numbers_and_names_is_not_noise(prose: str) -> None:
    assert noise_penalty(prose) == 0


def test_the_opening_message_and_each_messages_first_sentences_are_preferred() -> None:
    assert position_bonus(0, 0) > position_bonus(0, 3) > position_bonus(2, 3)
    assert position_bonus(2, 0) > position_bonus(2, 1)


# --- size: busy topics get room, quiet ones and quiet weeks stay short -------------------------


def _item(people: int, messages: int) -> Item:
    mails = tuple(mail(str(i), "Topic", f"Person {i % people}", hours=i) for i in range(messages))
    return Item("Topic", (Thread("<0>", "Topic", mails),))


def test_the_word_budget_grows_with_the_discussion_and_is_capped() -> None:
    quiet, usual, busy, huge = _item(1, 1), _item(3, 4), _item(8, 11), _item(40, 200)
    assert item_budget(100, quiet) == 55
    assert item_budget(100, quiet) < item_budget(100, usual) < item_budget(100, busy) < item_budget(100, huge)
    assert item_budget(100, huge) == 300


def test_a_quiet_week_gives_a_short_digest() -> None:
    digest = digest_of(mail("a", "Packages ready to go upstream", "Graham Whitlock",
                            "Four packages in our remote build with the released compiler and have tests. "
                            "They have run in our nightly CI for a month without a failure. "
                            "Priya did most of the clean-up work on them over the summer. "
                            "I will open the pull requests on Tuesday unless anyone objects to the plan. "
                            "The remote will then be retired at the end of September.", hours=5), words=60)
    item = only_item(digest)
    assert [s.key for s in digest.sections] == ["aob"]
    assert sum(len(s.text.split()) for s in item.summary) <= 35
    assert "pull requests on Tuesday" in summary_text(item)


# --- continued threads --------------------------------------------------------------------------


def test_a_continued_thread_is_marked_and_only_its_new_messages_are_summarized() -> None:
    old = mail("a", "Tidepool storage", "Thibault Lefevre", "Last week I removed most uses of bigstd.", hours=-30)
    new = mail("b", "Re: Tidepool storage", "Ewan Strachan", "The tutorial should cover merge functions first.",
               hours=2, reply_to="a")
    item = only_item(digest_of(old, new, words=200))
    assert item.continued
    assert item.message_count == 1
    assert [s.text for s in item.summary] == ["The tutorial should cover merge functions first."]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_strategy_comes_from_the_config(strategy: str) -> None:
    item = only_item(digest_of(
        mail("a", "TCP throughput", "Kasper Lindqvist", "TCP reaches 11 MB/s on the board. UDP reaches 18 MB/s.",
             hours=1),
        strategy=strategy,
    ))
    assert item.summary and all(s.author == "Kasper Lindqvist" for s in item.summary)


def test_bots_are_not_attendees() -> None:
    digest = digest_of(
        mail("a", "[GitHub] maven pull request #136: [MNG-6302] logging the module count", "asfgit",
             "Github user asfgit closed the pull request at:\n", addr="git@git.apache.org"),
        mail("b", "Jenkins build is unstable: asterix-integration-tests f52bc588", "Build server"),
        mail("c", "Maven 4.0.0", "Robert Scholte", "Maven 4 should run only changed modules.", hours=2),
    )
    assert digest.attendees == ("Maya Okafor", "Robert Scholte")
