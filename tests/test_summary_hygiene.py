"""Summary sentences a reader can take alone, one name per person, big threads as points.

Each rule gets a small hand-written thread: fragments, wrapped tails, `[n]`
markers, attribution lines, run-ons, pronouns without their antecedent,
people under two spellings, and a thread big enough to be read as points.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.model import Mail, SummarySentence
from bot.pipeline.clean import clean_body
from bot.pipeline.people import display_names, name_key, with_display_names
from bot.pipeline.points import BIG_THREAD, MAX_POINTS, MIN_POINTS, sub_discussions, summarize_points
from bot.pipeline.summarize import Utterance, Weights, pick_summary, score_parts, summarize_thread
from bot.pipeline.summarize.sentences import MAX_WORDS, MIN_WORDS, mend, opens_with_pronoun, tidy, within_length

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _words(sentence: SummarySentence) -> int:
    return len(sentence.text.split())


# -- sentences ---------------------------------------------------------------------------------------------


def test_fragments_are_never_picked_when_there_is_more_to_say() -> None:
    thread = [
        Utterance("<1>", "Ann", "The nightly build fails on the ARM runners since Tuesday. Hope that helps."),
        Utterance("<2>", "Bob", "Oh, wait. The runner image lost its cross compiler in the last upgrade. Good catch."),
        Utterance("<3>", "Ann", "Time will tell. I will pin the previous image until the compiler is back."),
    ]
    summary = summarize_thread(thread, words=500)
    assert summary
    assert all(_words(s) >= MIN_WORDS for s in summary)


def test_a_sentence_cut_after_an_abbreviation_is_mended() -> None:
    assert list(mend(["See e.g.", "the docs for the details of this."])) == [
        "See e.g. the docs for the details of this."
    ]
    assert list(mend(["It works.", "the tests pass too."])) == ["It works.", "the tests pass too."]


def test_a_fragment_goes_with_the_pronoun_that_points_back_to_it() -> None:
    assert list(mend(["Removed most uses of bigstd.", "It pulled in 14 MB of code for ten functions."])) == [
        "Removed most uses of bigstd. It pulled in 14 MB of code for ten functions."
    ]
    assert list(mend(["The release is tagged.", "Packages follow tomorrow."])) == [
        "The release is tagged.", "Packages follow tomorrow."
    ]


def test_the_wrapped_tail_of_a_dropped_line_is_dropped_too() -> None:
    body = (
        "The release notes are below.\n\n"
        "** Bug\n"
        "    * [DOXIA-523] - Ampersands after hash in markdown link syntax are now\n"
        "throwing parse errors.\n"
        "    * [DOXIA-543] - maven-doxia-markdown fails in parallel builds\n"
    )
    text = clean_body(body).text
    assert "throwing parse errors" not in text
    assert "The release notes are below." in text


def test_reference_markers_are_dropped() -> None:
    assert tidy("My tool for mod_jk is on GitHub[1] for those interested [2].") == (
        "My tool for mod_jk is on GitHub for those interested."
    )
    thread = [Utterance("<1>", "Ann", "The migration is done [1] and we now have 22 git repositories for the plugins.")]
    (sentence,) = summarize_thread(thread, words=100)
    assert "[1]" not in sentence.text


def test_attribution_lines_are_never_picked() -> None:
    text = (
        "On Thu, Aug 17, 2023 at 2:42 PM Laurent Pinchart wrote something about the media tree again. "
        "The media tree moves to the new maintainer model with the next merge window."
    )
    summary = summarize_thread([Utterance("<1>", "Hans", text)], words=200)
    assert [s.text for s in summary] == ["The media tree moves to the new maintainer model with the next merge window."]


def test_run_ons_are_split_or_left_out() -> None:
    clause = "the build passes on Linux with JDK 9 and fails on Windows with JDK 8 for reasons nobody understands yet"
    run_on = f"I ran it twice; {clause}; {clause}; and then {clause} again."
    assert len(run_on.split()) > MAX_WORDS
    pieces = within_length(run_on)
    assert len(pieces) > 1
    assert all(len(p.split()) <= MAX_WORDS for p in pieces)
    summary = summarize_thread([Utterance("<1>", "Ann", run_on)], words=500)
    assert summary
    assert all(_words(s) <= MAX_WORDS for s in summary)


def test_a_pronoun_opener_comes_with_its_antecedent_or_not_at_all() -> None:
    thread = [
        Utterance("<1>", "Ann", "It also saves room for processes trying to exit, which are not counted at all."),
        Utterance("<2>", "Bob", "The worker pool keeps idle threads for ten seconds after a burst of requests. "
                               "This makes the first request after a pause slow on small servers."),
        Utterance("<3>", "Cem", "Raising the idle timeout to sixty seconds fixed the slow first request for us."),
    ]
    for words in (15, 30, 60, 200):
        summary = summarize_thread(thread, words=words)
        texts = [s.text for s in summary]
        assert not any(t.startswith("It also saves") for t in texts)
        for i, sentence in enumerate(summary):
            if opens_with_pronoun(sentence.text):
                assert i > 0 and summary[i - 1].message_id == sentence.message_id


def test_weights_change_the_pick_and_default_to_the_shipped_ones() -> None:
    thread = [
        Utterance("<1>", "Ann", "Should we move the weekly call to Thursday afternoons from now on?"),
        Utterance("<2>", "Bob", "The new storage backend passed all of the integration tests last night."),
    ]
    parts = score_parts(thread)
    asked = pick_summary(parts, 12, Weights(question=5.0))
    told = pick_summary(parts, 12, Weights(question=-5.0))
    assert asked[0].text.endswith("?")
    assert not told[0].text.endswith("?")
    assert Weights.from_json(Weights(question=0.2).to_json()) == Weights(question=0.2)


# -- people --------------------------------------------------------------------------------------------------


def _mail(n: int, name: str, addr: str, parent: int | None = None, body: str = "") -> Mail:
    return Mail(f"<{n}@x>", "Topic", name, addr, T0 + timedelta(minutes=n),
                in_reply_to=f"<{parent}@x>" if parent is not None else None,
                body=body or f"Message number {n} says something worth a sentence about the topic at hand.")


def test_one_person_under_last_first_and_case_forms_gets_one_name() -> None:
    mails = [
        _mail(1, "Sinyuk, Konstantin", "konstantin.sinyuk@corp.example"),
        _mail(2, "Konstantin Sinyuk", "kostya@home.example"),
        _mail(3, "Hervé BOUTEMY", "herve@free.example"),
        _mail(4, "Hervé Boutemy", "hboutemy@apache.example"),
        _mail(5, "Hervé Boutemy", "hboutemy@apache.example"),
        _mail(6, "", "herve@free.example"),  # a bare address of someone who signs other mail by name
    ]
    authors = {m.author for m in with_display_names(mails, display_names(mails))}
    assert authors == {"Konstantin Sinyuk", "Hervé Boutemy"}
    assert name_key("Sinyuk, Konstantin") == name_key("konstantin SINYUK")


def test_an_address_many_people_write_from_identifies_no_one() -> None:
    mails = [_mail(1, "hboutemy", "git@git.example"), _mail(2, "jgangemi", "git@git.example"),
             _mail(3, "Ann Lee", "list@lists.example"), _mail(4, "Bob Kay", "list@lists.example")]
    authors = {m.author for m in with_display_names(mails, display_names(mails))}
    assert authors == {"hboutemy", "jgangemi", "Ann Lee", "Bob Kay"}


# -- big threads -----------------------------------------------------------------------------------------------


def _big_thread() -> list[Mail]:
    """An opening message with three sub-discussions of five, five and four replies, and a lone reply."""
    people = ["Ann", "Bob", "Cem", "Dia", "Eli", "Fay"]
    topics = ["the release date slips a week because the installer is not ready",
              "the new logo needs a darker blue for printed material and stickers",
              "the conference booth needs two more volunteers on the Saturday"]
    mails = [_mail(0, "Ann Lee", "ann@x.example", body="Three things to settle before the release this month.")]
    n = 1
    for k, topic in enumerate(topics):
        top = n
        for j in range(5 if k < 2 else 4):
            who = people[(k + j) % len(people)]
            mails.append(_mail(n, f"{who} Tester", f"{who.lower()}@x.example", 0 if j == 0 else n - 1,
                               body=f"On {topic}: {who} thinks {topic} and says so in reply {j}."))
            n += 1
        assert mails[top].in_reply_to == "<0@x>"
    mails.append(_mail(n, "Fay Tester", "fay@x.example", 0, body="A lone reply to the opening message, on nothing."))
    return mails


def test_a_big_thread_splits_into_its_reply_subtrees() -> None:
    mails = _big_thread()
    assert len(mails) >= BIG_THREAD
    groups = sub_discussions(mails)
    assert MIN_POINTS <= len(groups) <= MAX_POINTS
    assert sorted(m.message_id for g in groups for m in g) == sorted(m.message_id for m in mails)
    starts = [g[0].message_id for g in groups]
    assert starts == sorted(starts, key=lambda mid: int(mid[1:].split("@")[0]))  # in the order they start


def test_a_big_thread_reads_as_attributed_points_with_their_starts() -> None:
    mails = _big_thread()

    def summarize(group: Sequence[Mail], words: int) -> list[SummarySentence]:
        return summarize_thread([Utterance(m.thread_id, m.author, m.body) for m in group], words=words)

    summary = summarize_points(mails, 200, summarize)
    points = list(dict.fromkeys(s.point for s in summary))
    assert MIN_POINTS <= len(points) <= MAX_POINTS
    by_id = {m.message_id: m for m in mails}
    for point in points:
        sentences = [s for s in summary if s.point == point]
        assert all(s.author for s in sentences)
        assert point in by_id


def test_a_small_thread_is_summarized_in_one_go() -> None:
    mails = _big_thread()[: BIG_THREAD - 1]
    calls: list[int] = []

    def summarize(group: Sequence[Mail], words: int) -> list[SummarySentence]:
        calls.append(len(group))
        return []

    summarize_points(mails, 100, summarize)
    assert calls == [len(mails)]


def test_points_render_with_a_link_to_where_they_start() -> None:
    from bot.render.digest import summary_paragraphs

    summary = [
        {"text": "The date slips a week.", "message_id": "<1@x>", "author": "Bob", "point": "<1@x>"},
        {"text": "The installer needs it.", "message_id": "<2@x>", "author": "Bob", "point": "<1@x>"},
        {"text": "The logo gets darker.", "message_id": "<6@x>", "author": "Bob", "point": "<6@x>"},
    ]
    paragraphs = summary_paragraphs(summary, "https://archive.example/{message_id}")
    assert [(p["point"], p["point_url"]) for p in paragraphs] == [
        ("1", "https://archive.example/1@x"), ("2", "https://archive.example/6@x")
    ]
    assert paragraphs[0]["text"] == "The date slips a week. The installer needs it."


def test_the_chair_is_not_listed_again_under_another_form_of_their_name() -> None:
    from dataclasses import replace

    from bot.pipeline.digest import attendees
    from bot.settings import Settings

    settings = Settings()
    settings = replace(settings, digest=replace(settings.digest, chair="Maya Okafor"))
    assert attendees({"Okafor, Maya", "Dave Scott"}, settings) == ("Maya Okafor", "Dave Scott")


def test_a_long_week_shrinks_every_item_to_fit_the_digest() -> None:
    from bot.model import Item, Thread
    from bot.pipeline.items import DIGEST_SCALE, digest_shrink, item_budget

    busy = Item("Busy", (Thread("<0@x>", "Busy", tuple(_big_thread())),))
    assert digest_shrink(100, [busy]) == 1.0
    week = [busy] * 20
    shrink = digest_shrink(100, week)
    assert shrink < 1.0
    assert sum(shrink * item_budget(100, item) for item in week) <= DIGEST_SCALE * 100 + 1e-6
