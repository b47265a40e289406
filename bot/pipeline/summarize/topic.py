"""How closely a reply keeps to what the discussion's opening message asked.

A thread's readers summarize it as the opening question or proposal and what
each reply answers to it ("Terry supported Jacob's idea ..."): a reply
sentence that takes up the opening message's terms is more often part of that
answer than one on a side track.  :func:`topic_overlap` is the TF-IDF cosine
of each reply sentence with the opening message as a whole (0 for the opening
message's own sentences, which `position_bonus` already favours).

It works on the terms the strategy already computed (stems, stop words out):
one dictionary pass over the thread's terms, no per-pair work.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def topic_overlap(terms: Sequence[Sequence[str]], messages: Sequence[int]) -> list[float]:
    """Per sentence: cosine of its TF-IDF vector with the opening message's (message index 0), in [0, 1]."""
    count = len(terms)
    if not count:
        return []
    frequency = Counter(t for sentence in terms for t in set(sentence))
    idf = {t: math.log(1 + count / df) for t, df in frequency.items()}
    opening: Counter[str] = Counter()
    for sentence, message in zip(terms, messages, strict=True):
        if message == 0:
            opening.update(sentence)
    opening_vector = {t: n * idf[t] for t, n in opening.items()}
    opening_norm = math.sqrt(sum(x * x for x in opening_vector.values()))
    if not opening_norm:
        return [0.0] * count
    overlap = []
    for sentence, message in zip(terms, messages, strict=True):
        if message == 0 or not sentence:
            overlap.append(0.0)
            continue
        vector = {t: n * idf[t] for t, n in Counter(sentence).items()}
        norm = math.sqrt(sum(x * x for x in vector.values()))
        shared = sum(x * opening_vector.get(t, 0.0) for t, x in vector.items())
        overlap.append(shared / (norm * opening_norm))
    return overlap
