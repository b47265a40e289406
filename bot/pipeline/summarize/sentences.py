"""Sentences as a reader reads them: the rules a summary sentence must pass.

The tokenizer splits text where punctuation says to; a reader trips over what
that leaves: a `[2]` marker whose reference list was cleaned away (kept as a
link when the clean stage found the reference), an
"On Thu, Aug 17, 2023 at 2:42 PM Laurent Pinchart." attribution left as a
sentence, a run-on of eighty words, a fragment of three, or "This is why..."
without the sentence "this" points back to.  Each rule here is one regular
expression or one split, run once per sentence: cheap enough for the draft's
hot path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

MIN_WORDS = 6  # "Hope that helps.", "PMC quorum reached.": fragments a reader cannot place
SHORTEST = 3  # ... but a thread that says only "Tagged. Packages follow tomorrow." is summarized by them
MAX_WORDS = 60  # longer ones are split at their inner sentence breaks, or left out
MAX_LISTED = 4  # a list of more items than this is not joined to the sentence that introduces it
LIST_ITEM_WORDS = 12  # ... nor one with a longer item

# "[1]", " [23]": a reference whose list the clean stage dropped with the links; "[2](https://...)": one whose
# reference the clean stage found (bot/pipeline/clean.py), shown as a link to it.
_REF_MARKER = re.compile(r"\s*\[\d{1,2}\](?:\((?:https?|ftp)://[^\s<>()\[\]]+\))?")
_BARE_MARKER = re.compile(r"\s*\[\d{1,2}\](?!\((?:https?|ftp)://)")
# Three or more words in parentheses after a word, no digit, question or list (see `without_asides`).
_ASIDE = re.compile(r"(?<=\S)\s+\((?=[^()]*\s[^()]*\s)[^()\d?,]{3,120}\)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+(?=[.,;:!?)])")
# An attribution: "On Thu, Aug 17, 2023 at 2:42 PM Laurent Pinchart", "On 5 March 2024 ...", "... wrote:".
_ATTRIBUTION = re.compile(
    r"\bOn (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,|\bOn \d{1,2} \w+ \d{4}|\bOn \d{4}-\d\d-\d\d"
    r"|\b(?:wrote|writes|schrieb|a écrit):|^>"
)
# A word the tokenizer may take for a sentence's end: "e.g.", "i.e.", "etc.", "vs.".
_ABBREVIATION = re.compile(r"(?:\b\w\.\w\.|\b(?:etc|vs|approx|cf|incl|resp|esp|ca|viz|w\.r\.t)\.)$", re.I)
# Openers in lower case that go on from a sentence before them ("whereas UDP ...", "and then ...").
_CONTINUATION = re.compile(r"(?:whereas|and|but|or|so|which|because|while|although|than|then)\b")
# Openers that point back at something said before them.
_PRONOUN = re.compile(r"(?:He|She|They|It|This|That|These|Those)\b")
# Where a run-on still has a sentence break the tokenizer missed ("... is ok. And it looks ..."),
# or a clause break a reader pauses at.
_INNER_BREAK = re.compile(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z])|(?<=;)\s+")


def without_asides(sentence: str) -> str:
    """*sentence* without its parenthetical asides: "(as you can't have two versions on one machine)".

    An aside is three or more words in parentheses inside a sentence: the
    sentence reads the same without it, and a summary has a word budget.
    Parentheses with a number or a date, a name or an acronym, a list or a
    question ("(5 & 6 October)", "(Bristol)", "(JAWS or NVDA)", "(vchan
    backend, package releases)") are facts and stay, as does a sentence that
    would be a fragment (fewer than MIN_WORDS words) without them.
    """
    if "(" not in sentence:
        return sentence
    text = _ASIDE.sub(_unless_named, sentence).strip()
    if text == sentence or len(text.split()) < MIN_WORDS or text.count("(") != text.count(")"):
        return sentence  # nothing to drop, a fragment left, or a smiley closed the aside: "(... branch ;))"
    return text


def _unless_named(aside: re.Match[str]) -> str:
    """"" for an aside; the aside itself when a word after its first is a name or an acronym."""
    return aside[0] if any(w[:1].isupper() and w != "I" for w in aside[0].split()[1:]) else ""


def tidy(sentence: str) -> str:
    """*sentence* without `[n]` reference markers, linked or not: the words a reader reads, and we score."""
    if "[" not in sentence:
        return sentence
    return _SPACE_BEFORE_PUNCT.sub("", _REF_MARKER.sub("", sentence)).strip()


def shown(sentence: str) -> str:
    """*sentence* as the digest shows it: a marker whose reference is known stays, as "[n](URL)"; bare ones go."""
    if "[" not in sentence:
        return sentence
    return _SPACE_BEFORE_PUNCT.sub("", _BARE_MARKER.sub("", sentence)).strip()


def is_attribution(sentence: str) -> bool:
    """An "On <date>, <name> wrote" line, however the tokenizer cut it."""
    if "On " not in sentence and ":" not in sentence and not sentence.startswith(">"):
        return False  # every attribution has one of these: most sentences skip the regex
    return _ATTRIBUTION.search(sentence) is not None


def continues(sentence: str) -> bool:
    """Does the sentence open in lower case with a word that goes on from another ("whereas UDP pushes ...")?"""
    return sentence[:1].islower() and _CONTINUATION.match(sentence) is not None


def opens_with_pronoun(sentence: str) -> bool:
    """Does the sentence open with a pronoun that needs an antecedent ("This is why ...")?"""
    return _PRONOUN.match(sentence) is not None


def mend(sentences: Iterable[str]) -> Iterator[str]:
    """Sentences of one paragraph, with pieces a reader reads as one joined.

    A piece that opens in lower case after "e.g." or "etc." ("see e.g." + "the docs")
    is the same sentence going on; a fragment that a pronoun points back to
    ("Removed most uses of bigstd." + "It pulled in 14 MB ...") goes with it,
    as neither can be read alone.
    """
    pending = ""
    for sentence in sentences:
        if pending and (
            (sentence[:1].islower() and _ABBREVIATION.search(pending))
            or (len(pending.split()) < MIN_WORDS and pending[-1:] == "." and opens_with_pronoun(sentence))
        ):
            pending += " " + sentence
            continue
        if pending:
            yield pending
        pending = sentence
    if pending:
        yield pending


def introduced(intro: str, following: Sequence[str]) -> tuple[str, int]:
    """*intro* ("Try the following link:") mended with the short list after it, and how many paragraphs that took.

    The paragraphs after an introduction that ends in ":" are what it announces
    when they are short and do not end like sentences ("- http://...", "S4-211109"):
    up to MAX_LISTED of them are joined to it ("...: http://..."). A longer list,
    or prose after it, leaves the introduction as it was (and unpicked: a reader
    would not get what it announces).
    """
    items: list[str] = []
    for paragraph in following[: MAX_LISTED + 1]:
        if len(paragraph.split()) > LIST_ITEM_WORDS or paragraph[-1] in ".?!":
            break
        items.append(paragraph)
    mended = f"{intro} {'; '.join(items)}"
    if not items or len(items) > MAX_LISTED or len(mended.split()) > MAX_WORDS:
        return intro, 0
    return mended, len(items)


def within_length(sentence: str) -> list[str]:
    """*sentence* as pieces of at most MAX_WORDS words: a run-on split at its inner breaks.

    Pieces still too long are left out: a pasted log or a paragraph with no stop in it.
    """
    if len(sentence.split()) <= MAX_WORDS:
        return [sentence]
    pieces = [p.strip() for p in _INNER_BREAK.split(sentence)]
    return [p for p in pieces if p and len(p.split()) <= MAX_WORDS]
