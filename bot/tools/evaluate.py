"""`make eval`: ROUGE of our thread summaries against BC3's human summaries.

For every thread of the corpus, three systems are cut to the same word budget
and scored against the three human summaries (rouge-score, stemming, F1
averaged over references, then over threads):
  ours     clean -> summarize_thread (attributed, as the digest shows it)
  lexrank  plain sumy LexRank over the raw thread text
  lead     the first sentences of the raw thread text
Usage: python -m bot.tools.evaluate [CORPUS_DIR] [--words N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.mail.parse import parse_mail
from bot.mail.source import MboxSource
from bot.model import Mail, SummarySentence
from bot.pipeline.clean import clean_body
from bot.pipeline.summarize import Utterance, split_sentences, summarize_thread
from bot.settings import LimitSettings
from bot.store.database import message_id_of

METRICS = ("rouge1", "rouge2", "rougeL")


def load_threads(corpus: Path) -> list[tuple[str, list[Mail]]]:
    import json

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


def cut(text: str, words: int) -> str:
    return " ".join(text.split()[:words])


def _our_summary(mails: Sequence[Mail], words: int) -> list[SummarySentence]:
    utterances = [Utterance(m.message_id, m.author, clean_body(m.body).text) for m in mails]
    return summarize_thread([u for u in utterances if u.text], words=words)


def ours(mails: Sequence[Mail], words: int) -> str:
    """As the digest shows it: each sentence led by its author's first name."""
    return " ".join(f"{_first_name(s.author)}: {s.text}" for s in _our_summary(mails, words))


def ours_plain(mails: Sequence[Mail], words: int) -> str:
    return " ".join(s.text for s in _our_summary(mails, words))


def _first_name(author: str) -> str:
    return author.split()[0] if author else "someone"


def plain_lexrank(mails: Sequence[Mail], words: int) -> str:
    """sumy's own LexRank on the raw text: the anchor the issue names."""
    from sumy.nlp.stemmers import Stemmer
    from sumy.parsers.plaintext import PlaintextParser
    from sumy.summarizers.lex_rank import LexRankSummarizer
    from sumy.utils import get_stop_words

    from bot.pipeline.summarize.tokenize import get_tokenizer

    text = "\n\n".join(m.body for m in mails)
    document = PlaintextParser.from_string(text, get_tokenizer()).document
    summarizer = LexRankSummarizer(Stemmer("english"))
    summarizer.stop_words = get_stop_words("english")
    # Ask for more sentences until the budget is filled, as a user of sumy would.
    picked: tuple[object, ...] = ()
    for count in range(1, len(document.sentences) + 1):
        picked = summarizer(document, count)
        if sum(len(str(s).split()) for s in picked) >= words:
            break
    return " ".join(str(s) for s in picked)


def lead(mails: Sequence[Mail], words: int) -> str:
    sentences = [s for m in mails for s in split_sentences(m.body)]
    return " ".join(sentences)


def evaluate(corpus: Path, words: int) -> dict[str, dict[str, float]]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    refs = load_references(corpus)
    systems: dict[str, Callable[[Sequence[Mail], int], str]] = {
        "ours": ours, "ours (no names)": ours_plain, "sumy lexrank": plain_lexrank, "lead": lead,
    }
    scores: dict[str, dict[str, list[float]]] = {name: {m: [] for m in METRICS} for name in systems}
    for listno, mails in load_threads(corpus):
        references = refs.get(listno, [])
        if not references:
            continue
        for name, system in systems.items():
            candidate = cut(system(mails, words), words)
            for metric in METRICS:
                values = [scorer.score(ref, candidate)[metric].fmeasure for ref in references]
                scores[name][metric].append(statistics.mean(values))
    return {name: {m: 100 * statistics.mean(v) for m, v in by.items()} for name, by in scores.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.tools.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", default="../shared/corpora/bc3-dev", type=Path)
    parser.add_argument("--words", type=int, default=100)
    args = parser.parse_args(argv)
    if not (args.corpus / "annotation.xml").exists():
        parser.exit(2, f"{args.corpus}: not a BC3 corpus folder (no annotation.xml)\n")
    table = evaluate(args.corpus, args.words)
    print(f"ROUGE F1 x100, {args.words}-word budget, {args.corpus}")
    print(f"{'system':<18}{'R-1':>7}{'R-2':>7}{'R-L':>7}")
    for name, row in table.items():
        print(f"{name:<18}{row['rouge1']:>7.1f}{row['rouge2']:>7.1f}{row['rougeL']:>7.1f}")
    base = table["sumy lexrank"]["rouge2"]
    print(f"ours vs sumy lexrank, ROUGE-2: {100 * (table['ours']['rouge2'] / base - 1):+.0f}%")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
