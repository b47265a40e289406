"""`make tune`: fit the summary's score weights on BC3 and write them into the package.

The weights (`bot.pipeline.summarize.weights`) are chosen on a small grid for
their gain in ROUGE-2 over the neutral weights, of the summaries as the digest
shows them (each author's run of sentences led by their name) against
BC3's human summaries, counting only the gain that is sure (see `fit`).  `make eval` fits
them the same way on one half of the threads and scores the other half.
Usage: python -m bot.tools.tune [CORPUS_DIR] [--words N] [--dry-run]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from bot.mail.parse import parse_mail
from bot.mail.source import MboxSource
from bot.model import Mail
from bot.pipeline.clean import clean_body
from bot.pipeline.summarize import ScoreParts, Utterance, Weights, pick_summary, score_parts
from bot.pipeline.summarize.weights import WEIGHTS_FILE
from bot.settings import LimitSettings
from bot.store.identity import message_id_of

# Two values per weight, the neutral one and one step: a finer grid fits ten threads' noise
# (a 240-point grid did worse on the held-out half than the neutral weights).
GRID = {
    "centrality": (1.0, 1.5),
    "information": (0.5, 1.0),
    "position": (1.0, 1.5),
    "question": (0.0, 0.2),
    "topic": (0.0, 0.5),
}


@dataclass(frozen=True, slots=True)
class Example:
    """One BC3 thread: its mail, its human summaries, and its sentences scored once."""

    listno: str
    mails: list[Mail]
    references: list[str]
    parts: ScoreParts


def load_threads(corpus: Path) -> list[tuple[str, list[Mail]]]:
    index = json.loads((corpus / "mbox" / "index.json").read_text())
    threads = []
    stamp = datetime.now(UTC)
    for name, listno in sorted(index.items()):
        raws = list(MboxSource(corpus / "mbox" / name))
        mails = [parse_mail(r.raw, message_id_of(r.raw), stamp, LimitSettings()) for r in raws]
        threads.append((listno, mails))
    return threads


def load_references(corpus: Path) -> dict[str, list[str]]:
    root = ET.parse(corpus / "annotation.xml").getroot()
    refs: dict[str, list[str]] = {}
    for thread in root.iter("thread"):
        listno = (thread.findtext("listno") or "").strip()
        for annotation in thread.iter("annotation"):
            sentences = [s.text or "" for s in annotation.iter("sent") if s.text]
            refs.setdefault(listno, []).append(" ".join(sentences))
    return refs


def examples(threads: Sequence[tuple[str, list[Mail]]], references: dict[str, list[str]]) -> list[Example]:
    out = []
    for listno, mails in threads:
        if references.get(listno):
            out.append(Example(listno, mails, references[listno], score_parts(utterances(mails))))
    return out


def utterances(mails: Sequence[Mail]) -> list[Utterance]:
    cleaned = [Utterance(m.message_id, m.author, clean_body(m.body).text) for m in mails]
    return [u for u in cleaned if u.text]


def folds(items: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """Two halves, alternating in listno order (as BC3's own dev/test split alternates)."""
    ordered = sorted(items, key=lambda e: e.listno)
    return ordered[0::2], ordered[1::2]


def summary_text(example: Example, weights: Weights, words: int, *, names: bool = True) -> list[str]:
    """The summary's sentences as the digest shows them: each author's run of sentences led by their name.

    The digest writes consecutive sentences of one author as one paragraph with
    the name once (`bot.render.digest.summary_paragraphs`); so does this.
    """
    picked = pick_summary(example.parts, words, weights)
    if not names:
        return [s.text for s in picked]
    return [s.text if i and s.author == picked[i - 1].author else f"{shown_name(s.author)}: {s.text}"
            for i, s in enumerate(picked)]


def shown_name(author: str) -> str:
    """The name the digest leads an author's sentences with: the whole display name, as in the digest."""
    return author or "someone"


def fit(train: Sequence[Example], words: int) -> Weights:
    """The grid's weights whose gain in ROUGE-2 over the neutral weights on *train* is surest; else the neutral ones.

    Ten threads are few: the grid point with the best mean on them did worse on
    the other ten than the neutral weights. So a grid point's gain is its
    per-thread gain's mean less one standard error (the one-standard-error
    rule), and the neutral weights stay unless some point's is above zero
    (ties: the grid's first).
    """
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge2"], use_stemmer=True)

    def per_thread(weights: Weights) -> list[float]:
        return [
            statistics.mean(
                scorer.score(ref, _cut(" ".join(summary_text(e, weights, words)), words))["rouge2"].fmeasure
                for ref in e.references
            )
            for e in train
        ]

    neutral = per_thread(Weights())
    best, best_gain = Weights(), 0.0
    for values in itertools.product(*GRID.values()):
        weights = Weights(**dict(zip(GRID, values, strict=True)))
        gains = [a - b for a, b in zip(per_thread(weights), neutral, strict=True)]
        sure = statistics.mean(gains) - (statistics.stdev(gains) / len(gains) ** 0.5 if len(gains) > 1 else 0.0)
        if sure > best_gain + 1e-9:
            best, best_gain = weights, sure
    return best


def _cut(text: str, words: int) -> str:
    return " ".join(text.split()[:words])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.tools.tune", description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", default="../shared/corpora/bc3-dev", type=Path)
    parser.add_argument("--words", type=int, default=100)
    parser.add_argument("--dry-run", action="store_true", help="print the weights, do not write them")
    args = parser.parse_args(argv)
    if not (args.corpus / "annotation.xml").exists():
        parser.exit(2, f"{args.corpus}: not a BC3 corpus folder (no annotation.xml)\n")
    weights = fit(examples(load_threads(args.corpus), load_references(args.corpus)), args.words)
    print(weights.to_json(), end="")
    if not args.dry_run:
        target = resources.files("bot.pipeline.summarize").joinpath(WEIGHTS_FILE)
        Path(str(target)).write_text(weights.to_json(), encoding="utf-8")
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
