"""What the summarizer sees: the sentences of each item a draft summarizes.

The draft benchmark's anchor is sumy's LexRank summarizing "the same
threads one by one", so this rebuilds exactly the items `build_digest` makes
for a period and the candidate sentences `summarize_thread` would score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.clean import clean_body
from bot.group import make_items
from bot.model import Mail
from bot.store import Store
from bot.summarize import MAX_WORDS, MIN_WORDS, split_sentences
from bot.summarize.tokenize import count_words
from bot.thread import build_threads


@dataclass(frozen=True, slots=True)
class Workload:
    messages: int
    threads: int
    items: tuple[tuple[str, ...], ...]  # candidate sentences of each summarized item

    @property
    def sentences(self) -> int:
        return sum(len(s) for s in self.items)

    @property
    def largest(self) -> int:
        return max((len(s) for s in self.items), default=0)


def period_workload(store: Store, start: datetime, end: datetime) -> Workload:
    """The items `build_digest` summarizes for [start, end), as sentences."""
    mails = store.mails_between(start, end)
    have = {m.message_id for m in mails}
    wanted = {ref for m in mails for ref in (*m.references, m.in_reply_to or "") if ref and ref not in have}
    context = store.mails_by_ids(wanted) if wanted else []
    threads = [t for t in build_threads([*context, *mails], frozenset(m.message_id for m in context)) if t.new_mails]
    cleaned = {m.message_id: clean_body(m.body) for t in threads for m in t.mails}
    items = make_items(threads, cleaned)
    texts = []
    for item in items:
        if item.note:  # patch series: one line, never summarized
            continue
        ordered = sorted((m for t in item.threads for m in t.new_mails), key=lambda m: (m.date, m.message_id))
        texts.append(candidates([cleaned[m.message_id].text for m in ordered]))
    return Workload(len(mails), len(threads), tuple(t for t in texts if t))


def mails_workload(mails: Sequence[Mail]) -> tuple[str, ...]:
    """The candidate sentences of one thread given as parsed mails."""
    ordered = sorted(mails, key=lambda m: (m.date, m.message_id))
    return candidates([clean_body(m.body).text for m in ordered])


def candidates(texts: Sequence[str]) -> tuple[str, ...]:
    """Distinct sentences of a sensible length, as `summarize_thread` picks them."""
    seen: set[str] = set()
    out = []
    for text in texts:
        for sentence in split_sentences(text):
            key = " ".join(sentence.casefold().split())
            if key in seen or not MIN_WORDS <= count_words(sentence) <= MAX_WORDS:
                continue
            seen.add(key)
            out.append(sentence)
    return tuple(out)


def sumy_document(sentences: Sequence[str]) -> Any:
    """One paragraph of `sentences`, tokenized as the bot tokenizes them."""
    from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence

    from bot.summarize.tokenize import get_tokenizer

    tokenizer = get_tokenizer()
    return ObjectDocumentModel([Paragraph([Sentence(s, tokenizer) for s in sentences])])


def configured(summarizer_class: Any) -> Any:
    """A summarizer with the bot's stemmer and stop words."""
    from bot.summarize.tokenize import get_stemmer, get_stop_words

    summarizer = summarizer_class(get_stemmer())
    summarizer.stop_words = get_stop_words()
    return summarizer
