"""What the summarizer sees: the sentences of each item a draft summarizes.

The draft benchmark's anchor is sumy's LexRank summarizing "the same
threads one by one". Rather than re-implement the pipeline, this runs
`build_digest` itself with `summarize_thread` replaced by a recorder, so the
anchor gets exactly the utterances the draft summarizes, and turns them into
candidate sentences with the summarizer's own selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from unittest import mock

from bot.model import Mail, SummarySentence
from bot.pipeline.clean import clean_body
from bot.settings import Settings
from bot.store.database import Store


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


def period_workload(store: Store, settings: Settings, start: datetime, end: datetime) -> Workload:
    """The sentences of every item `build_digest` summarizes for [start, end), each item whole.

    A big thread is summarized point by point (bot/pipeline/points.py): recorded so, sumy's anchor
    would run on the smaller pieces our draft chose, and the anchor would move with our algorithm.
    Each item's whole discussion is what a one-summary-per-item summarizer is given.
    """
    import bot.pipeline.points
    import bot.pipeline.summarize
    from bot.pipeline.digest import build_digest

    recorded: list[tuple[str, ...]] = []

    def record(utterances: Sequence[Any], **_options: Any) -> list[SummarySentence]:
        recorded.append(utterance_sentences(utterances))
        return []

    with mock.patch.object(bot.pipeline.summarize, "summarize_thread", record), \
            mock.patch.object(bot.pipeline.points, "BIG_THREAD", 1 << 30):
        digest = build_digest(store, settings, start, end)
    return Workload(digest.stats["messages"], digest.stats["threads"], tuple(s for s in recorded if s))


def utterance_sentences(utterances: Sequence[Any]) -> tuple[str, ...]:
    """The candidate sentences `summarize_thread` would score for `utterances`."""
    from bot.pipeline.summarize import _candidates

    return tuple(candidate.text for candidate in _candidates(utterances))


def mails_workload(mails: Sequence[Mail]) -> tuple[str, ...]:
    """The candidate sentences of one thread given as parsed mails, in discussion order."""
    from bot.pipeline.summarize import Utterance

    ordered = sorted(mails, key=lambda m: (m.date, m.message_id))
    return utterance_sentences([Utterance(m.message_id, m.author, clean_body(m.body).text) for m in ordered])


def sumy_document(sentences: Sequence[str]) -> Any:
    """One paragraph of `sentences`, tokenized as the bot tokenizes them."""
    from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence

    from bot.pipeline.summarize.tokenize import get_tokenizer

    tokenizer = get_tokenizer()
    return ObjectDocumentModel([Paragraph([Sentence(s, tokenizer) for s in sentences])])


def configured(summarizer_class: Any) -> Any:
    """A summarizer with the bot's stemmer and stop words."""
    from bot.pipeline.summarize.tokenize import get_stemmer, get_stop_words

    summarizer = summarizer_class(get_stemmer())
    summarizer.stop_words = get_stop_words()
    return summarizer
