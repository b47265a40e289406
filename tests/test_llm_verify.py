"""The deterministic checks of model-written points (bot/pipeline/summarize/llm/verify.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import ModelError
from bot.pipeline.summarize.llm.client import parse_points
from bot.pipeline.summarize.llm.verify import (
    DUPLICATE,
    EMPTY,
    MISATTRIBUTED,
    NO_CITATION,
    OUTSIDE,
    UNSUPPORTED,
    Checker,
    Point,
    Source,
)

ANN = Source("<1@x.example>", "Ann Example",
             "We agreed to release 2.0 on 1 September. The plan is at https://example.org/plan for review.")
BOB = Source("<2@x.example>", "Bob Builder", "I will prepare the changelog by Friday, with help from the CI team.")
CAROL = Source("<3@x.example>", "Carol Jones", "Ubuntu 24.04 needs libfoo 1.2.3-rc1 first.")


def checker() -> Checker:
    return Checker([ANN, BOB, CAROL], ["Ann Example", "Bob Builder", "Carol Jones"], context="Release plan for 2.0")


def verdict(text: str, *ids: str, check: Checker | None = None) -> str:
    return (check or checker()).check(Point(text, ids)).reason


@pytest.mark.parametrize(("text", "ids"), [
    ("We agreed to release 2.0 on 1 September.", ("<1@x.example>",)),
    ("Ann proposed releasing 2.0 on 1 September.", ("<1@x.example>",)),
    ("The plan is at https://example.org/plan.", ("<1@x.example>",)),
    ("Bob Builder will prepare the changelog by Friday.", ("<2@x.example>",)),
    ("Release 2.0 is set for 1 September and Bob will write the changelog.", ("<1@x.example>", "<2@x.example>")),
    ("Ann and Bob agreed on 2.0 and the changelog.", ("<1@x.example>", "<2@x.example>")),
    ("Ubuntu 24.04 needs libfoo v1.2.3-rc1.", ("<3@x.example>",)),
    ("Discussion of the release plan for 2.0 continued.", ("<1@x.example>",)),  # the title counts
    ("Bob asked for help from the CI team.", ("2@x.example",)),  # an id without its angle brackets
])
def test_faithful_points_are_kept(text: str, ids: tuple[str, ...]) -> None:
    assert verdict(text, *ids) == ""


@pytest.mark.parametrize(("text", "ids", "reason"), [
    ("Everyone agreed.", (), NO_CITATION),
    ("   ", ("<1@x.example>",), EMPTY),
    ("We agreed to release 2.0.", ("<elsewhere@y.example>",), OUTSIDE),
    ("We agreed to release 2.0.", ("<1@x.example>", "<elsewhere@y.example>"), OUTSIDE),
    ("The release moves to 3.0.", ("<1@x.example>",), UNSUPPORTED),  # an invented version
    ("Ubuntu 24 needs libfoo 1.2.3-rc1.", ("<3@x.example>",), UNSUPPORTED),  # 24 is not 24.04
    ("Ann wants 40 more testers.", ("<1@x.example>",), UNSUPPORTED),  # an invented number
    ("The release is on 2 October.", ("<1@x.example>",), UNSUPPORTED),  # an invented date
    ("The plan is at https://example.org/other.", ("<1@x.example>",), UNSUPPORTED),  # an invented URL
    ("Zelda Quux objected to the plan.", ("<1@x.example>",), UNSUPPORTED),  # an invented person
    ("The plan needs sign-off from Debian.", ("<1@x.example>",), UNSUPPORTED),  # an invented name
    ("The changelog is due by Friday.", ("<1@x.example>",), UNSUPPORTED),  # a fact of another message
    ("Bob proposed releasing 2.0 on 1 September.", ("<1@x.example>",), MISATTRIBUTED),
    ("According to Carol, the release is 2.0.", ("<1@x.example>",), MISATTRIBUTED),
    ("Ann Example and Carol Jones agreed to release 2.0.", ("<1@x.example>",), MISATTRIBUTED),
    ("The release 2.0 was proposed by Bob Builder.", ("<1@x.example>",), MISATTRIBUTED),
])
def test_fabricated_points_are_dropped(text: str, ids: tuple[str, ...], reason: str) -> None:
    assert verdict(text, *ids) == reason


def test_a_point_that_repeats_a_kept_one_is_dropped() -> None:
    check = checker()
    assert verdict("We agreed to release 2.0 on 1 September.", "<1@x.example>", check=check) == ""
    assert verdict("We agreed to release 2.0 on 1 September!", "<1@x.example>", check=check) == DUPLICATE
    assert verdict("we agreed to release 2.0 on 1 September", "1@x.example", check=check) == DUPLICATE
    assert verdict("Bob will prepare the changelog by Friday.", "<2@x.example>", check=check) == ""


def test_a_dropped_point_is_not_remembered_as_kept() -> None:
    check = checker()
    assert verdict("We agreed to release 2.0 on 1 September.", "<9@y.example>", check=check) == OUTSIDE
    assert verdict("We agreed to release 2.0 on 1 September.", "<1@x.example>", check=check) == ""


def test_kept_citations_are_deduplicated_and_in_discussion_order() -> None:
    kept = checker().check(Point("Ann and Bob agreed on 2.0 and the changelog.",
                                 ("<2@x.example>", "1@x.example", "<2@x.example>")))
    assert kept.kept and kept.point.message_ids == ("<1@x.example>", "<2@x.example>")


def test_a_name_only_mentioned_is_not_an_attribution() -> None:
    # Bob is named in Ann's message, as the one she thanks: the point says nothing Bob said.
    thanks = Source("<4@x.example>", "Ann Example", "Thanks to Bob for the 2.0 changelog.")
    check = Checker([thanks, BOB], ["Ann Example", "Bob Builder"])
    assert verdict("Ann thanked Bob for the 2.0 changelog.", "<4@x.example>", check=check) == ""
    assert verdict("Bob's changelog for 2.0 was welcome.", "<4@x.example>", check=check) == ""


def test_lenient_parsing_of_what_servers_answer() -> None:
    assert parse_points('{"points": [{"text": "A.", "message_ids": ["<1@x>"]}]}') == [Point("A.", ("<1@x>",))]
    fenced = 'Here you go:\n```json\n{"points": [{"text": "A.", "message_ids": "<1@x>"}]}\n```'
    assert parse_points(fenced) == [Point("A.", ("<1@x>",))]
    thinking = '<think>{"points": []} hmm</think>[{"text": "B.", "message_ids": []}]'
    assert parse_points(thinking) == [Point("B.", ())]
    for bad in ("no json here", '{"points": "x"}', '{"points": [{"message_ids": []}]}', '{"points": [1]}',
                '{"points": [{"text": "A", "message_ids": 7}]}'):
        with pytest.raises(ModelError, match="malformed"):
            parse_points(bad)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.lists(st.sampled_from(["<1@x.example>", "2@x.example", "<9@y>", "", "<>"]),
                                       max_size=3))
def test_any_answer_gets_a_verdict_and_a_kept_one_cites_only_the_item(text: str, ids: list[str]) -> None:
    result = checker().check(Point(text, tuple(ids)))
    if result.kept:
        assert result.point.message_ids and set(result.point.message_ids) <= {ANN.message_id, BOB.message_id}


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([ANN, BOB, CAROL]), st.integers(min_value=0, max_value=5))
def test_a_message_own_words_cited_to_it_are_kept(source: Source, cut: int) -> None:
    words = source.text.split()
    text = " ".join(words[: max(3, len(words) - cut)])
    assert checker().check(Point(text, (source.message_id,))).kept
