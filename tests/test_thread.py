from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.model import Mail, Thread
from bot.pipeline.thread import build_threads

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def mail(
    mid: str,
    minute: int = 0,
    subject: str = "Topic",
    refs: tuple[str, ...] = (),
    irt: str | None = None,
) -> Mail:
    return Mail(
        message_id=mid,
        subject=subject,
        from_name="",
        from_addr=f"{mid}@example.org",
        date=T0 + timedelta(minutes=minute),
        in_reply_to=irt,
        references=refs,
    )


def groups(threads: list[Thread]) -> list[list[str]]:
    return [[m.message_id for m in t.mails] for t in threads]


def test_reply_chain_is_one_thread_in_date_order() -> None:
    mails = [
        mail("c", 2, "Re: Re: Build broken", refs=("a", "b"), irt="b"),
        mail("a", 0, "[dev] Build broken"),
        mail("b", 1, "Re: Build broken", refs=("a",), irt="a"),
    ]
    [thread] = build_threads(mails)
    assert groups([thread]) == [["a", "b", "c"]]
    assert thread.root_id == "a"
    assert thread.subject == "Build broken"


def test_in_reply_to_alone_links() -> None:
    assert groups(build_threads([mail("a", 0), mail("b", 1, "Re: Other", irt="a")])) == [["a", "b"]]


def test_missing_parent_keeps_siblings_together() -> None:
    # "x" was never archived; both replies to it are one conversation.
    mails = [mail("b", 1, "Re: Lost", refs=("x",)), mail("c", 2, "Different words", refs=("x",))]
    [thread] = build_threads(mails)
    assert thread.root_id == "b"
    assert thread.subject == "Lost"


def test_missing_middle_links_through_empty_container() -> None:
    mails = [mail("a", 0), mail("c", 2, refs=("a", "b"))]
    assert groups(build_threads(mails)) == [["a", "c"]]


def test_reference_loop() -> None:
    mails = [mail("a", 0, "Ping", refs=("b",)), mail("b", 1, "Re: Ping", refs=("a",))]
    [thread] = build_threads(mails)
    assert groups([thread]) == [["a", "b"]]
    assert thread.subject == "Ping"


def test_self_reference_is_ignored() -> None:
    mails = [mail("a", 0, "Self", refs=("a",), irt="a"), mail("b", 1, "Unrelated")]
    assert groups(build_threads(mails)) == [["a"], ["b"]]


def test_dropped_headers_joined_by_reply_subject() -> None:
    mails = [
        mail("a", 0, "[dev] Release plan"),
        mail("b", 5, "Re: [dev] release  PLAN"),  # client dropped References
        mail("c", 6, "AW: Release plan", refs=("b",)),
    ]
    [thread] = build_threads(mails)
    assert groups([thread]) == [["a", "b", "c"]]
    assert thread.subject == "Release plan"


def test_reply_joins_latest_original_before_it() -> None:
    mails = [
        mail("w1", 0, "Weekly status"),
        mail("w2", 7 * 24 * 60, "Weekly status"),
        mail("r", 7 * 24 * 60 + 5, "Re: Weekly status"),
    ]
    assert groups(build_threads(mails)) == [["w1"], ["w2", "r"]]


def test_replies_without_original_join_each_other() -> None:
    mails = [mail("b", 1, "Re: Gone"), mail("c", 2, "Re: Gone")]
    assert groups(build_threads(mails)) == [["b", "c"]]


def test_different_subjects_and_threads_do_not_merge() -> None:
    mails = [
        # Two non-reply posts with a generic subject: two conversations.
        mail("q1", 0, "Question"),
        mail("q2", 1, "Question"),
        # Same words, but a patch version apart.
        mail("p2", 2, "[PATCH v2] Fix x"),
        mail("r3", 3, "Re: [PATCH v3] Fix x"),
        # A reply with intact headers stays where its headers put it.
        mail("a", 4, "Build"),
        mail("b", 5, "Re: Question", refs=("a",)),
        # Empty subjects never merge.
        mail("e1", 6, ""),
        mail("e2", 7, "Re:"),
    ]
    assert groups(build_threads(mails)) == [["q1"], ["q2"], ["p2"], ["r3"], ["a", "b"], ["e1"], ["e2"]]


def test_duplicate_id_keeps_first() -> None:
    first = mail("a", 0, "First")
    [thread] = build_threads([first, mail("a", 1, "Second"), mail("b", 2, refs=("a",))])
    assert thread.mails[0] is first
    assert groups([thread]) == [["a", "b"]]


def test_own_headers_beat_other_references() -> None:
    # "c" claims b's parent is x; b's own In-Reply-To says a. b stays with a,
    # and c (child of b) comes along: one thread.
    mails = [mail("a", 0, "A"), mail("b", 1, "B", irt="a"), mail("c", 2, "C", refs=("x", "b"))]
    assert groups(build_threads(mails)) == [["a", "b", "c"]]


def test_context_ids_and_thread_order() -> None:
    mails = [
        mail("n1", 10, "New"),
        mail("o1", 0, "Old"),
        mail("o2", 20, "Re: Old", refs=("o1",)),
    ]
    threads = build_threads(mails, context_ids=frozenset({"o1", "elsewhere"}))
    assert groups(threads) == [["o1", "o2"], ["n1"]]
    assert threads[0].context_ids == {"o1"}
    assert threads[1].context_ids == frozenset()
    assert [m.message_id for m in threads[0].new_mails] == ["o2"]


def test_result_does_not_depend_on_input_order() -> None:
    mails = [
        mail("a", 0, "A"),
        mail("b", 1, refs=("a",)),
        mail("c", 2, refs=("x", "y")),
        mail("d", 3, refs=("y", "z")),
        mail("e", 4, "Re: A"),
    ]
    expected = groups(build_threads(mails))
    rng = random.Random(1)
    for _ in range(20):
        rng.shuffle(mails)
        assert groups(build_threads(mails)) == expected


def test_empty_input() -> None:
    assert build_threads([]) == []


def test_10000_deep_chain() -> None:
    n = 10_000
    # Every mail names its parent, and the first and last few ancestors, as
    # clients trim long References.
    mails = [mail("m0", 0, "Deep")]
    for i in range(1, n):
        refs = tuple(f"m{j}" for j in [0, 1, 2, *range(max(3, i - 5), i)] if j < i)
        mails.append(mail(f"m{i}", i, "Re: Deep", refs=refs, irt=f"m{i - 1}"))
    # Deep loop too: the top also points at the bottom.
    mails[0] = mail("m0", 0, "Deep", irt=f"m{n - 1}")
    [thread] = build_threads(reversed(mails))
    assert len(thread.mails) == n
    assert thread.root_id == "m0"


def test_100000_mails_is_fast() -> None:
    rng = random.Random(7)
    mails = []
    for i in range(100_000):
        parent = f"m{rng.randrange(i)}" if i and rng.random() < 0.8 else None
        refs = (parent,) if parent else ()
        subject = f"Re: Topic {rng.randrange(5000)}" if parent or rng.random() < 0.3 else f"Topic {i}"
        mails.append(mail(f"m{i}", i, subject, refs=refs, irt=parent))
    start = time.perf_counter()
    threads = build_threads(mails)
    assert time.perf_counter() - start < 10
    assert sum(len(t.mails) for t in threads) == len(mails)


# Random reply graphs: ids from a small pool so references hit real mails,
# missing mails, the mail itself, and duplicates.
ids = st.sampled_from([f"<{i}@x>" for i in range(12)])
subjects = st.sampled_from(["", "Re:", "Topic", "Re: Topic", "Fwd: topic", "[l] Other", "Re: [l] other", "[PATCH] x"])
mails_strategy = st.lists(
    st.builds(
        mail,
        mid=ids,
        minute=st.integers(0, 5),
        subject=subjects,
        refs=st.lists(ids, max_size=4).map(tuple),
        irt=st.none() | ids,
    ),
    max_size=15,
)


@settings(max_examples=300, deadline=None)
@given(mails_strategy, st.frozensets(ids))
def test_every_mail_in_exactly_one_thread(mails: list[Mail], context: frozenset[str]) -> None:
    threads = build_threads(mails, context)
    distinct = {m.message_id for m in mails}
    placed = [m.message_id for t in threads for m in t.mails]
    assert sorted(placed) == sorted(distinct)
    for thread in threads:
        assert thread.mails
        assert list(thread.mails) == sorted(thread.mails, key=lambda m: (m.date, m.message_id))
        assert thread.root_id == thread.mails[0].message_id
        assert thread.subject
        assert thread.context_ids == context & {m.message_id for m in thread.mails}
    firsts = [(t.mails[0].date, t.mails[0].message_id) for t in threads]
    assert firsts == sorted(firsts)


@settings(max_examples=200, deadline=None)
@given(mails_strategy, st.randoms())
def test_input_order_does_not_matter_without_duplicates(mails: list[Mail], rng: random.Random) -> None:
    unique = list({m.message_id: m for m in mails}.values())
    expected = groups(build_threads(unique))
    rng.shuffle(unique)
    assert groups(build_threads(unique)) == expected


def test_a_second_mail_with_a_taken_message_id_is_kept_in_that_ids_thread() -> None:
    """The store keys it by a derived key (header_id keeps the Message-ID): both mails stay, in one thread."""
    from dataclasses import replace

    second = replace(mail("dup-1.a", 1, "Other words"), header_id="a")
    mails = [mail("a", 0, "Plan"), second, mail("r", 2, "Re: Plan", refs=("a",), irt="a"), mail("x", 3, "Else")]
    assert sorted(groups(build_threads(mails))) == [["a", "dup-1.a", "r"], ["x"]]
    # Its own References place it, if it has any.
    placed = replace(mail("dup-2.a", 1, refs=("x",), irt="x"), header_id="a")
    assert sorted(groups(build_threads([mail("a", 0, "Plan"), placed, mail("x", 0, "Else")]))) == \
        [["a"], ["x", "dup-2.a"]]
