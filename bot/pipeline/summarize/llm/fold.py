"""Long threads: cut into chunks that fit the model's input, summarized one by one, then folded.

Every message goes into some chunk, in discussion order (a message longer than a
chunk is cut at paragraphs and each part keeps its Message-ID): a summary of a
long thread is never one of its last part only. The partial points, checked,
are then folded into one summary by the model; when folding fails, the checked
partial points themselves are the summary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from .verify import Point, Source

CHARS_PER_TOKEN = 3  # conservative: English runs near 4, code and other scripts lower
PROMPT_TOKENS = 600  # the instructions around the messages

SYSTEM = """You write the minutes of a project's mailing list. You are given the messages of one topic, \
each with its Message-ID and author.
Write the key points of the discussion: proposals, decisions, disagreements, open questions, and who said what.
Rules:
- Each point is one or two plain sentences and lists in message_ids the Message-IDs, in angle brackets \
exactly as given, of the messages it comes from.
- Use only facts, numbers, dates, versions, URLs and names that appear in the messages a point cites.
- Say that a person said or did something only when that person wrote a message the point cites.
- Do not repeat a point. Do not invent anything.
Each point is printed after the names of the authors of the messages it cites.
Answer with JSON only: {"points": [{"text": "...", "message_ids": ["<...>"]}]}"""

FOLD_SYSTEM = """You merge the minutes of a long mailing-list topic. You are given points that summarize \
consecutive parts of it, in order, each with the Message-IDs it cites and their authors.
Merge them into the points of the whole topic: combine points that say the same thing (their message_ids \
together), keep the order of the discussion, keep every point's message_ids exactly as given, and add nothing.
Answer with JSON only: {"points": [{"text": "...", "message_ids": ["<...>"]}]}"""


def tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


def chunk_sources(sources: Sequence[Source], max_input_tokens: int) -> list[list[Source]]:
    """Consecutive runs of messages, each within the budget; together, all of them."""
    budget = max(200, max_input_tokens - PROMPT_TOKENS)
    chunks: list[list[Source]] = [[]]
    used = 0
    for source in sources:
        for part in _parts(source, budget):
            cost = tokens(label(part))
            if chunks[-1] and used + cost > budget:
                chunks.append([])
                used = 0
            chunks[-1].append(part)
            used += cost
    return [chunk for chunk in chunks if chunk]


def _parts(source: Source, budget: int) -> list[Source]:
    """The message, or pieces of it cut at paragraphs (at words for one huge paragraph), each within budget."""
    limit = budget * CHARS_PER_TOKEN - len(label(Source(source.message_id, source.author, "")))
    if len(source.text) <= limit:
        return [source]
    pieces: list[str] = [""]
    for paragraph in source.text.split("\n\n"):
        for word_run in _runs(paragraph, limit):
            if pieces[-1] and len(pieces[-1]) + len(word_run) + 2 > limit:
                pieces.append("")
            pieces[-1] = f"{pieces[-1]}\n\n{word_run}" if pieces[-1] else word_run
    return [Source(source.message_id, source.author, piece) for piece in pieces if piece]


def _runs(paragraph: str, limit: int) -> list[str]:
    if len(paragraph) <= limit:
        return [paragraph]
    runs = [""]
    for word in paragraph.split():
        if runs[-1] and len(runs[-1]) + len(word) + 1 > limit:
            runs.append("")
        runs[-1] = f"{runs[-1]} {word}" if runs[-1] else word[:limit]
    return runs


def label(source: Source) -> str:
    return f"Message-ID: {source.message_id}\nFrom: {source.author}\n\n{source.text.strip()}\n"


def summary_request(title: str, chunk: Sequence[Source], *, words: int, part: tuple[int, int] = (1, 1)) -> str:
    """The user message: the topic, a length, and the messages, each labelled."""
    number, total = part
    where = f" (part {number} of {total} of a long topic)" if total > 1 else ""
    head = (f"Topic: {title}{where}\nWrite at most {max(2, words // 25)} points, about {words} words in all.\n\n"
            "Messages:\n\n")
    return head + "\n---\n\n".join(label(source) for source in chunk)


def fold_groups(points: Sequence[Point], authors: dict[str, str], max_input_tokens: int) -> list[list[Point]]:
    """The partial points in runs that each fit one fold request."""
    budget = max(200, max_input_tokens - PROMPT_TOKENS)
    groups: list[list[Point]] = [[]]
    used = 0
    for point in points:
        cost = tokens(_point_line(point, authors))
        if groups[-1] and used + cost > budget:
            groups.append([])
            used = 0
        groups[-1].append(point)
        used += cost
    return [group for group in groups if group]


def fold_request(title: str, points: Sequence[Point], authors: dict[str, str], *, words: int) -> str:
    head = (f"Topic: {title}\nMerge into at most {max(2, words // 25)} points, about {words} words in all.\n\n"
            "Points, in the order of the discussion:\n")
    return head + "\n".join(_point_line(point, authors) for point in points)


def _point_line(point: Point, authors: dict[str, str]) -> str:
    return json.dumps({"text": point.text, "message_ids": list(point.message_ids),
                       "authors": list(dict.fromkeys(authors.get(m, "") for m in point.message_ids))},
                      ensure_ascii=False)
