"""Which threads of a period are about the same topic, and what to call it.

A chair folds a talk's feedback thread, its slides thread and a forwarded copy
into one agenda item, but keeps "[VOTE] Release Maven Javadoc Plugin" and
"[VOTE] Release Maven JDeprScan Plugin" apart although they share five words.
So subject words are weighed by how rare they are among the period's subjects
(IDF): on a list where every other subject says "Apache Maven Plugin", those
words say nothing. Subject likeness alone decides only when it is high; in the
middle band the threads must also share their starter or participants, or their
bodies must be alike. Two subjects that each name something the other does not
("Javadoc" / "JDeprScan", "1.4" / "3.7") are two topics whatever else they share.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.model import Thread
from bot.pipeline.clean import CleanBody
from bot.pipeline.subject import clean_title

SURE = 0.75  # subject likeness that merges on its own
LIKELY = 0.4  # subject likeness that merges with other evidence
PEOPLE = 0.3  # participant overlap (Jaccard) that counts as evidence
BODY = 0.3  # body likeness (TF-IDF cosine) that counts as evidence
# A quiet week's few subjects cannot show which words are common on the list:
# count at least this many documents, as if the rest shared no words.
MIN_DOCUMENTS = 20

_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
_RAW_WORD = re.compile(r"\S+")
# Hashes and build ids ("f52bc588") tell CI runs apart, not topics.
_HASH = re.compile(r"(?=[a-f]*\d)(?=\d*[a-f])[0-9a-f]{7,40}")
_STOP_WORDS = (
    "a an and are as at be by can do for from has have how i if in is it its my no not of on or our re so "
    "that the this to was we what when why will with you your fwd fw about after new question questions "
    "any some there just"
)
_STOP = frozenset(_STOP_WORDS.split())
# Labels that say what kind of mail it is, not what it is about.
_LABEL = re.compile(
    r"^(?:(?:basic|quick|simple|newbie|general|a)\s+question|question|heads[- ]up|fyi|psa|reminder|help"
    r"|request|info|update|meta|ot|off[- ]topic)\s*[:\-–—]\s+(?=\S)",
    re.IGNORECASE,
)
# Re-roll markers: "(take 2)", "[try 3]", "(second attempt)".
_REROLL = re.compile(
    r"\s*[(\[](?:(?:take|try|attempt|round|retry)\s*#?\d+|(?:second|third|2nd|3rd)\s+(?:take|try|attempt))[)\]]",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Profile:
    thread: Thread
    words: frozenset[str]  # content words of the subject
    names: frozenset[str]  # of those, the ones that name something: "javadoc", "3.0.0"
    people: frozenset[str]
    starter: str
    terms: Counter[str]  # content words of the new messages' own text


@dataclass(frozen=True, slots=True)
class _Weights:
    """IDF over the period's threads: of subject words, of participants, of body words."""

    subject: dict[str, float]
    people: dict[str, float]
    body: dict[str, float]


def group_topics(threads: Sequence[Thread], cleaned: Mapping[str, CleanBody]) -> list[list[Thread]]:
    """Threads on one topic together, groups in the order of their first thread."""
    profiles = [_profile(thread, cleaned) for thread in threads]
    idf = _Weights(_idf(p.words for p in profiles), _idf(p.people for p in profiles),
                   _idf(p.terms.keys() for p in profiles))
    parent = list(range(len(profiles)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in _candidate_pairs(profiles):
        if root(i) != root(j) and _same_topic(profiles[i], profiles[j], idf):
            parent[root(i)] = root(j)
    groups: dict[int, list[Thread]] = {}
    for i, profile in enumerate(profiles):
        groups.setdefault(root(i), []).append(profile.thread)
    return list(groups.values())


def _candidate_pairs(profiles: Sequence[_Profile]) -> list[tuple[int, int]]:
    """Pairs (i, j), j < i, whose subjects share a word: no other pair can reach LIKELY.

    Words in more than a quarter of a big period's subjects are not followed,
    which keeps a busy list's week from costing n² comparisons.
    """
    postings: dict[str, list[int]] = {}
    for i, profile in enumerate(profiles):
        for word in profile.words:
            postings.setdefault(word, []).append(i)
    limit = max(MIN_DOCUMENTS, len(profiles) // 4)
    pairs: set[tuple[int, int]] = set()
    for members in postings.values():
        if len(members) <= limit:
            pairs.update((i, j) for k, i in enumerate(members) for j in members[:k])
    return sorted(pairs)


def topic_title(threads: Sequence[Thread]) -> str:
    """A title a person would write: the subject the threads share.

    Subjects cut short by an archive ("... doing the") give way to the whole
    one; otherwise the words all subjects share, in the first one's order.
    """
    titles = [polish_title(t.subject) for t in threads]
    first = titles[0]
    if len({t.casefold() for t in titles}) == 1:
        return first
    shared = frozenset.intersection(*(subject_words(t) for t in titles))
    tokens = _RAW_WORD.findall(first)
    keep = [i for i, w in enumerate(tokens) if subject_words(w) and subject_words(w) <= shared]
    if len(keep) < 2:  # one shared word is a theme ("Maven"), not a title
        return first
    # Stop words inside the kept span stay ("Revision of R4-1915074"); dropped content words go.
    kept = [w for i, w in enumerate(tokens) if keep[0] <= i <= keep[-1] and (i in keep or not subject_words(w))]
    title = " ".join(kept).strip(" :;,-–—|")
    longer = [t for t in titles if t.casefold().startswith(title.casefold()) and len(t) > len(title)]
    if longer:  # the shared words are a prefix: the subjects are one subject, some cut short
        return max(longer, key=lambda t: (titles.count(t), len(t)))
    return title[:1].upper() + title[1:] if title[:1].islower() and title[1:2].islower() else title


def polish_title(subject: str) -> str:
    """The cleaned subject without quotes around it, a "Question:" label or a "(take 2)" marker."""
    title = clean_title(subject)
    if len(title) > 2 and title[0] == title[-1] and title[0] in "'\"":
        title = clean_title(title[1:-1])  # some archives quote subjects: "'Re: topic'"
    title = _REROLL.sub("", title).strip()
    if title.endswith(".") and not title.endswith(".."):
        title = title[:-1]
    rest = _LABEL.sub("", title, count=1)
    if rest != title and rest[:1].islower() and rest.split()[0].isalpha():
        rest = rest[:1].upper() + rest[1:]  # "new ARM features" opens the title now
    return rest or title


def subject_words(subject: str) -> frozenset[str]:
    """Content words of a subject, lower-cased and stemmed, without hashes and stop words."""
    words = _WORD.findall(subject.lower())
    return frozenset(_stem(w) for w in words if w not in _STOP and not _HASH.fullmatch(w))


def _stem(word: str) -> str:
    """A crude stem, enough to match "Released" with "Release" and "talks" with "talk"."""
    if len(word) > 4 and word.isalpha():
        for suffix in ("ing", "ed", "es", "s"):
            if word.endswith(suffix) and not word.endswith("ss"):
                word = word[: -len(suffix)]
                break
        return word.removesuffix("e")
    return word


def _profile(thread: Thread, cleaned: Mapping[str, CleanBody]) -> _Profile:
    title = polish_title(thread.subject)
    text = " ".join(cleaned[m.message_id].text for m in thread.new_mails if m.message_id in cleaned)
    terms = Counter(w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2)
    starter = thread.mails[0].author if thread.mails else ""
    return _Profile(thread, subject_words(title), _names(title), frozenset(thread.participants), starter, terms)


def _names(title: str) -> frozenset[str]:
    """Words that name a thing: a capital past the first word, a digit, or an inner capital."""
    names: set[str] = set()
    for position, token in enumerate(_RAW_WORD.findall(title)):
        core = token.strip("()[]{}:;,.!?\"'")
        named = any(c.isdigit() for c in core) or any(c.isupper() for c in core[1:])
        if named or (position > 0 and core[:1].isupper()):
            names |= subject_words(core)
    return frozenset(names)


def _idf(documents: Iterable[Iterable[str]]) -> dict[str, float]:
    """Smoothed inverse document frequency over the period's threads."""
    frequency: Counter[str] = Counter()
    count = 0
    for document in documents:
        frequency.update(set(document))
        count += 1
    count = max(count, MIN_DOCUMENTS)
    return {word: math.log((count + 1) / (df + 0.5)) for word, df in frequency.items()}


def _same_topic(one: _Profile, other: _Profile, idf: _Weights) -> bool:
    if (one.names - other.words) and (other.names - one.words):
        return False  # each names something the other does not: two releases, two plugins
    likeness = _cosine(Counter(one.words), Counter(other.words), idf.subject)
    if likeness >= SURE:
        return True
    if likeness < LIKELY:
        return False
    # One person in common is no evidence (a release manager writes in every vote), and someone
    # who writes in every thread weighs little: people are weighed like words.
    both = one.people & other.people
    people = sum(idf.people[p] for p in both) / max(1e-9, sum(idf.people[p] for p in one.people | other.people))
    return (
        one.starter == other.starter
        or (len(both) > 1 and people >= PEOPLE)
        or _cosine(one.terms, other.terms, idf.body) >= BODY
    )


def _cosine(a: Counter[str], b: Counter[str], idf: Mapping[str, float]) -> float:
    """IDF-weighted cosine of two bags of words."""
    dot = sum(a[w] * b[w] * idf.get(w, 0.0) ** 2 for w in a.keys() & b.keys())
    if dot <= 0:
        return 0.0
    norm_a = math.sqrt(sum((n * idf.get(w, 0.0)) ** 2 for w, n in a.items()))
    norm_b = math.sqrt(sum((n * idf.get(w, 0.0)) ** 2 for w, n in b.items()))
    return dot / (norm_a * norm_b)
