"""`make eval`: ROUGE of our thread summaries against BC3's human summaries, two-fold.

The BC3 threads are split in two halves (alternating in listno order).  For
each fold the summary's weights are fitted on one half (`bot.tools.tune`) and
our summaries of the other half are scored by BC3's own scorer,
``bc3.py score ... --with-baselines``: our rows and the anchor rows (lead and
sumy's LexRank, TextRank, LSA and Luhn over BC3's own sentences) come from one
run and one scorer, every system cut to the same word budget.
  ours             clean -> summarize_thread, each author's run of sentences led by their name, as the digest
                   shows it (the names take words of the budget)
  ours (no names)  the same sentences without the names: the summary alone, like for like with the baselines
  llm:<model>      with a config (--config, DIGESTBOT_CONFIG) whose [llm] is set: the operator's model, checked
Usage: python -m bot.tools.evaluate [CORPUS_DIR] [--words N] [--bc3 PATH] [--config FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from bot.pipeline.summarize import Weights
from bot.settings import LlmSettings
from bot.tools.llm_eval import configured_llm
from bot.tools.tune import Example, examples, fit, folds, load_references, load_threads, summary_text


def held_out_table(corpus: Path, bc3: Path, test: Sequence[Example], train: Sequence[Example],
                   words: int, llm: LlmSettings | None = None) -> tuple[Weights, dict[str, dict[str, float]]]:
    """Weights fitted on *train*; bc3.py's table for our summaries of *test*, with its baselines."""
    weights = fit(train, words)
    keep = {e.listno for e in test}
    with tempfile.TemporaryDirectory(prefix="bc3-fold-") as tmp:
        folder = Path(tmp)
        for name in ("corpus.xml", "annotation.xml"):
            _subset(corpus / name, folder / name, keep)
        systems = {"ours": {e.listno: summary_text(e, weights, words) for e in test},
                   "ours (no names)": {e.listno: summary_text(e, weights, words, names=False) for e in test}}
        if llm is not None:  # the operator's model, when [llm] is configured (bot/tools/llm_eval.py)
            from bot.tools.llm_eval import model_summaries

            systems[f"llm:{llm.model}"] = model_summaries(test, words, llm, lambda e: summary_text(e, weights, words))
        table: dict[str, dict[str, float]] = {}
        for name, outputs in systems.items():
            (folder / "system.json").write_text(json.dumps(outputs))
            command = [sys.executable, str(bc3), "score", str(folder / "corpus.xml"), str(folder / "annotation.xml"),
                       str(folder / "system.json"), "--words", str(words)]
            if not table:
                command.append("--with-baselines")
            run = subprocess.run(command, check=True, capture_output=True, text=True)
            scores = json.loads(run.stdout)
            table[name] = scores.pop("system")
            table.update(scores)
    return weights, table


def _subset(source: Path, target: Path, listnos: set[str]) -> None:
    """The corpus or annotation file with only the threads in *listnos*."""
    tree = ET.parse(source)
    root = tree.getroot()
    for thread in list(root.findall("thread")):
        if (thread.findtext("listno") or "").strip() not in listnos:
            root.remove(thread)
    tree.write(target, encoding="UTF-8", xml_declaration=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.tools.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", default="../shared/corpora/bc3-dev", type=Path)
    parser.add_argument("--words", type=int, default=100)
    parser.add_argument("--bc3", type=Path, help="BC3's scorer (default: tools/bc3.py next to the corpora folder)")
    parser.add_argument("--config", default=os.environ.get("DIGESTBOT_CONFIG"),
                        help="a digestbot config whose [llm] section adds the model's row")
    args = parser.parse_args(argv)
    llm = configured_llm(args.config)
    if not (args.corpus / "annotation.xml").exists():
        parser.exit(2, f"{args.corpus}: not a BC3 corpus folder (no annotation.xml)\n")
    bc3 = args.bc3 or args.corpus.resolve().parent.parent / "tools" / "bc3.py"
    if not bc3.exists():
        parser.exit(2, f"{bc3}: BC3's scorer not found (give --bc3 PATH)\n")
    first, second = folds(examples(load_threads(args.corpus), load_references(args.corpus)))
    print(f"ROUGE F1 x100, {args.words}-word budget, {args.corpus}, scored by {bc3.name} (one run per fold)")
    pooled: dict[str, float] = {}  # system -> ROUGE-2 summed over every held-out thread
    for number, (test, train) in enumerate(((first, second), (second, first)), start=1):
        weights, table = held_out_table(args.corpus, bc3, test, train, args.words, llm)
        for name, row in table.items():
            pooled[name] = pooled.get(name, 0.0) + row["rouge2"] * len(test)
        print(f"\nfold {number}: tuned on {len(train)} threads, scored on the other {len(test)}; weights {weights}")
        print(f"{'system':<18}{'R-1':>7}{'R-2':>7}{'R-L':>7}")
        for name, row in table.items():
            print(f"{name:<18}{row['rouge1']:>7.1f}{row['rouge2']:>7.1f}{row['rougeL']:>7.1f}")
        base = table["sumy-lexrank"]["rouge2"]
        for name in ("ours", "ours (no names)"):
            print(f"{name} vs sumy-lexrank, ROUGE-2: {100 * (table[name]['rouge2'] / base - 1):+.1f}%")
    # Every thread scored once, by the fold that did not tune on it: the two-fold estimate of the whole.
    threads = len(first) + len(second)
    print(f"\nboth folds, all {threads} threads held out once, ROUGE-2:")
    for name in ("ours", "ours (no names)"):
        ours, base = pooled[name] / threads, pooled["sumy-lexrank"] / threads
        print(f"{name} {ours:.2f} vs sumy-lexrank {base:.2f}: {100 * (ours / base - 1):+.1f}%")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
