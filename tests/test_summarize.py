"""The summarize stage: budget, order, attribution, dedup, strategies, offline."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.model import SummarySentence
from bot.pipeline.summarize import (
    STRATEGIES,
    Utterance,
    bonus,
    information_bonus,
    split_sentences,
    summarize_thread,
)
from bot.pipeline.summarize.bonus import is_greeting_question
from bot.pipeline.summarize.tokenize import OfflineTokenizer, count_words, get_tokenizer

THREAD = [
    Utterance(
        "<1@list>",
        "Alice",
        "Hi all,\n\nI ran the UDP benchmark on the new driver last night. "
        "We measured 18 MB/s over UDP with the default options.\n\n"
        "The TCP numbers are still missing. That sounds nice.\n\nThanks!",
    ),
    Utterance(
        "<2@list>",
        "Bob",
        "That sounds nice. How are you?\n\n"
        "The TCP path still drops packets under load, about 2% at 40 ms latency. "
        "I think the driver needs a bigger ring buffer for TCP.",
    ),
    Utterance(
        "<3@list>",
        "Carol",
        "We agreed on the call to ship v0.9.1 on Jan 5 with the UDP fix only. "
        "ACTION: Bob will open a ticket for the TCP ring buffer. "
        "the tcp path still drops packets   under load, about 2% at 40 ms latency.",
    ),
]


pytestmark = pytest.mark.usefixtures("offline")


def _position(sentence: SummarySentence) -> tuple[int, int]:
    """(message index, sentence index) of a summary sentence in THREAD."""
    for m, utterance in enumerate(THREAD):
        sentences = split_sentences(utterance.text)
        if utterance.message_id == sentence.message_id and sentence.text in sentences:
            return m, sentences.index(sentence.text)
    raise AssertionError(f"not found in its message: {sentence}")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategies_run_offline_and_respect_the_budget(strategy: str) -> None:
    for budget in (10, 25, 40, 1000):
        summary = summarize_thread(THREAD, words=budget, strategy=strategy)
        assert summary
        total = sum(count_words(s.text) for s in summary)
        assert total <= budget or len(summary) == 1


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_discussion_order_and_attribution(strategy: str) -> None:
    summary = summarize_thread(THREAD, words=1000, strategy=strategy)
    positions = [_position(s) for s in summary]  # raises if attribution is wrong
    assert positions == sorted(positions)
    authors = {u.message_id: u.author for u in THREAD}
    assert all(authors[s.message_id] == s.author for s in summary)


def test_duplicates_appear_once_attributed_to_the_first_speaker() -> None:
    summary = summarize_thread(THREAD, words=1000)
    keys = [" ".join(s.text.casefold().split()) for s in summary]
    assert len(keys) == len(set(keys))
    drops = [s for s in summary if "drops packets" in s.text]
    assert [(s.author, s.message_id) for s in drops] == [("Bob", "<2@list>")]
    # Said twice, shown at most once (chatter like this is not picked at all: see test_quality).
    assert sum(s.text == "That sounds nice." for s in summary) <= 1


def test_short_and_long_sentences_are_skipped() -> None:
    long = " ".join(["word"] * 81) + "."
    thread = [Utterance("<a>", "A", f"Thanks! +1.\n\n{long}\n\nThe build on arm64 is green.")]
    summary = summarize_thread(thread, words=1000)
    assert [s.text for s in summary] == ["The build on arm64 is green."]


def test_empty_input() -> None:
    assert summarize_thread([]) == []
    assert summarize_thread([Utterance("<a>", "A", ""), Utterance("<b>", "B", "\n\n  ")]) == []


def test_one_short_message_is_returned_whole() -> None:
    text = "The release is tagged. Packages follow tomorrow."
    summary = summarize_thread([Utterance("<a>", "Ann", text)])
    assert summary == [
        SummarySentence("The release is tagged.", "<a>", "Ann"),
        SummarySentence("Packages follow tomorrow.", "<a>", "Ann"),
    ]


def test_best_sentence_is_kept_even_if_it_overflows_the_budget() -> None:
    summary = summarize_thread(THREAD, words=3)
    assert len(summary) == 1
    assert count_words(summary[0].text) > 3


def test_information_bonus_prefers_facts_over_chatter() -> None:
    assert information_bonus("We measured 18 MB/s over UDP") > information_bonus("That sounds nice")
    thread = [Utterance("<a>", "A", "That sounds nice. We measured 18 MB/s over UDP.")]
    for strategy in [s for s in STRATEGIES if s != "lead"]:  # lead ranks by position
        summary = summarize_thread(thread, words=6, strategy=strategy)
        assert [s.text for s in summary] == ["We measured 18 MB/s over UDP."]


@pytest.mark.parametrize(
    ("informative", "plain"),
    [
        ("We decided to drop Python 3.9 support.", "We talked about Python support."),
        ("The release is planned for 2024-05-03.", "The release is planned for later."),
        ("Please test the v2 series of the patch.", "Please test the series of the patch."),
        ("ACTION: Bob to update the docs.", "Bob maybe looks at the docs."),
        ("Is the fix in the next release?", "Hi all, how are you?"),
    ],
)
def test_information_bonus_features(informative: str, plain: str) -> None:
    assert information_bonus(informative) > information_bonus(plain)


def test_greeting_questions() -> None:
    assert is_greeting_question("Hi Bob, how are you?")
    assert is_greeting_question("Hello everyone, how is it going?")
    assert not is_greeting_question("Hi all, can someone review the v2 patch?")
    assert not is_greeting_question("Hi Bob, how are you.")


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        summarize_thread(THREAD, strategy="magic")


def test_split_sentences() -> None:
    text = "Hi all,\nI ran it on v0.9.1, e.g. on arm64.  It works!\n\n\nSee you. Bye"
    assert split_sentences(text) == [
        "Hi all, I ran it on v0.9.1, e.g. on arm64.",
        "It works!",
        "See you.",
        "Bye",
    ]
    assert split_sentences("") == []


def test_tokenizer_interface_and_singleton() -> None:
    tokenizer = get_tokenizer()
    assert tokenizer is get_tokenizer()
    assert tokenizer.language == "english"
    assert tokenizer.to_words("Don't merge v2 (it's 18 MB/s) -- 'quoted'?") == (
        "Don't",
        "merge",
        "v2",
        "it's",
        "18",
        "MB",
        "s",
        "quoted",
    )
    assert tokenizer.to_sentences("  One. Two?  ") == ("One.", "Two?")
    with pytest.raises(ValueError):
        OfflineTokenizer("czech")


def test_tokenizer_works_with_sumy_parser() -> None:
    from sumy.parsers.plaintext import PlaintextParser  # type: ignore[import-untyped]

    text = "First one here. Second one.\n\nThird."
    document = PlaintextParser.from_string(text, get_tokenizer()).document
    assert [str(s) for s in document.sentences] == ["First one here.", "Second one.", "Third."]
    assert document.sentences[0].words == ("First", "one", "here")


def test_importing_the_package_is_cheap() -> None:
    code = (
        "import sys, bot.pipeline.summarize; "
        "print(sorted(m for m in ('numpy', 'scipy', 'sumy', 'nupunkt', 'nltk') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_lexrank_summary_never_imports_nltk_or_sumys_summarizers() -> None:
    """sumy's stemmer module imports nltk, and nltk scipy.stats: over a second per draft."""
    code = (
        "import sys\n"
        "from bot.pipeline.summarize import Utterance, summarize_thread\n"
        "picked = summarize_thread([Utterance('<a@x>', 'Ann', 'The build fails on arm64. We measured it twice.'),"
        " Utterance('<b@x>', 'Bob', 'The arm64 build fails since the merge. I will bisect it.')], words=20)\n"
        "assert picked, picked\n"
        "print(sorted(m for m in ('nltk', 'sumy.summarizers', 'scipy.stats') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_lexrank_scores_are_sumys_lexrank_ratings() -> None:
    """The default path (no sumy) scores as sumy's LexRankSummarizer does with the same stemmer and stop words."""
    from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence  # type: ignore[import-untyped]
    from sumy.summarizers.lex_rank import LexRankSummarizer  # type: ignore[import-untyped]

    from bot.pipeline.summarize.strategies import score_sentences
    from bot.pipeline.summarize.tokenize import get_stemmer, get_stop_words

    sentences = [
        "The build fails on arm64 since the merge.", "We measured the arm64 build twice, and it fails.",
        "Running tests isn't the same as building.", "The merge broke the ARM64 builders.",
        "Thanks, I'll bisect the merge tomorrow.", "Nobody uses arm64 anyway.", "Builds are green elsewhere.",
    ]
    reference = LexRankSummarizer(get_stemmer())
    reference.stop_words = get_stop_words()
    ratings: dict[int, float] = {}

    def record(infos: list[Any]) -> list[Any]:
        ratings.update((info.order, float(info.rating)) for info in infos)
        return infos

    tokenizer = get_tokenizer()
    reference(ObjectDocumentModel([Paragraph([Sentence(s, tokenizer) for s in sentences])]), record)
    best = max(ratings.values())
    assert score_sentences(sentences, "lexrank") == [ratings[i] / best for i in range(len(sentences))]


WORDS = st.sampled_from(
    ["the", "patch", "build", "fails", "on", "arm64", "we", "measured", "18", "MB/s", "latency", "fix", "v2", "agreed"]
)
SENTENCE = st.lists(WORDS, min_size=1, max_size=12).map(lambda w: " ".join(w).capitalize() + ".")
MESSAGE = st.lists(SENTENCE, min_size=0, max_size=6).map(" ".join)


@settings(max_examples=40, deadline=None)
@given(st.lists(MESSAGE, max_size=6), st.integers(1, 80), st.sampled_from(STRATEGIES))
def test_properties(messages: list[str], budget: int, strategy: str) -> None:
    thread = [Utterance(f"<{i}>", f"author{i}", text) for i, text in enumerate(messages)]
    summary = summarize_thread(thread, words=budget, strategy=strategy)
    lengths = [count_words(s.text) for s in summary]
    assert sum(lengths) <= budget or len(summary) == 1
    assert all(3 <= n <= 80 for n in lengths)
    keys = [" ".join(s.text.casefold().split()) for s in summary]
    assert len(keys) == len(set(keys))
    order = [int(s.message_id.strip("<>")) for s in summary]
    assert order == sorted(order)
    assert all(s.author == f"author{s.message_id.strip('<>')}" for s in summary)
    assert all(s.text in split_sentences(messages[int(s.message_id.strip("<>"))]) for s in summary)


def test_lead_takes_the_first_sentences() -> None:
    text = "The first point is here. The second point is here. The third point is here."
    summary = summarize_thread([Utterance("<a>", "A", text)], words=10, strategy="lead")
    assert [s.text for s in summary] == ["The first point is here.", "The second point is here."]


class _NoShortcuts(bonus.Clues):
    """Every pattern runs: the reference the cheap substring tests must never disagree with."""

    def has_any(self, needles: tuple[str, ...]) -> bool:
        return True

    def may_checksum(self, tokens: list[str]) -> bool:
        return True


TRICKY = st.lists(
    st.sampled_from([*"aAdefkKsSwW0123456789 .:/@-_#%()[]=İıſé’'", "day", "www.", "://", "sha1", "md5",
                              " will", " agreed", "ACTION", "Monday", "next week", "tomorrow", "v2", "1.2.3",
                              "18 MB/s", ".tar.gz", ".html", "deadbeefcafe0123", "+1 555 123 4567"]),
    max_size=30,
).map("".join)


@settings(max_examples=600, deadline=None)
@given(st.one_of(TRICKY, st.text(max_size=80)))
def test_the_bonus_shortcuts_never_change_a_score(text: str) -> None:
    fast = information_bonus(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bonus, "Clues", _NoShortcuts)
        assert information_bonus(text) == fast



def test_the_splitters_memo_is_dropped_after_a_draft_and_splits_the_same() -> None:
    # A daemon drafting list after list keeps no memo of text no later draft repeats (tokenize.forget_text).
    from bot.pipeline.summarize.tokenize import _sentence_model, forget_text, split_sentences

    model: Any = _sentence_model()

    def memo() -> int:  # nupunkt's memo of boundary decisions (its private state: what forget_text bounds)
        return len(model.__dict__["_decision_memo"][2])

    small = "Dr. Smith fixed it. See e.g. the log. It works now! Does it? Yes."
    expected = split_sentences(small)
    split_sentences(" ".join(f"Item no. {i} is done. Mr. Jones {i} agreed." for i in range(300)))
    filled = memo()
    forget_text()
    assert split_sentences(small) == expected
    assert filled > 100 and memo() < 10
