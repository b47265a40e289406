"""The LLM row of `make eval`: the operator's own model on BC3, beside the extractive anchors.

Only when the config (--config, or DIGESTBOT_CONFIG) has an `[llm]` section with a
base_url and a model. Each thread goes through the same exchange and checks as a
digest (bot/pipeline/summarize/llm); a thread whose points all fail the checks,
or whose request fails, is scored with the extractive summary it would fall back to.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bot.pipeline.clean import clean_body

if TYPE_CHECKING:
    from bot.settings import LlmSettings
    from bot.tools.tune import Example


def configured_llm(config: str | None) -> LlmSettings | None:
    """The `[llm]` settings of `config`, when it names an endpoint and a model."""
    if not config:
        return None
    from bot.settings import load_settings

    llm = load_settings(config).llm
    return llm if llm.configured else None


def model_summaries(test: Sequence[Example], words: int, llm: LlmSettings,
                    fallback: Callable[[Example], list[str]]) -> dict[str, list[str]]:
    """Each thread's checked model summary, its points led by their authors' names, as the digest shows them."""
    from bot.pipeline.summarize.llm import Source, Topic, write_summaries
    from bot.tools.tune import shown_name

    topics = []
    for example in test:
        sources = tuple(Source(m.message_id, m.author, text) for m in example.mails
                        if (text := clean_body(m.body).text).strip())
        subject = example.mails[0].subject if example.mails else ""
        topics.append(Topic(subject, sources, tuple(dict.fromkeys(m.author for m in example.mails)), words))
    written = write_summaries(topics, llm)
    out = {}
    for example, result in zip(test, written, strict=True):
        out[example.listno] = ([f"{shown_name(s.author)}: {s.text}" for s in result.summary] if result.summary
                               else fallback(example))
    fell_back = sum(1 for result in written if not result.summary)
    dropped = sum(sum(result.dropped.values()) for result in written)
    print(f"llm:{llm.model}: {len(test) - fell_back} of {len(test)} threads written by the model, "
          f"{dropped} point(s) dropped by the checks", file=sys.stderr)
    return out

