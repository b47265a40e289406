"""How the parts of a sentence's score add up: weights fitted on BC3, shipped as a package file.

A sentence's score is a weighted sum of its centrality (the strategy's score),
its information bonus, its position bonus, whether it asks a question (the
questions and their answers are what a thread's readers summarize) and, for a
reply, its overlap with the opening message's topic.  The
weights are fitted by ``make tune`` (``python -m bot.tools.tune``) on the BC3
threads against their human summaries, and read from ``weights.json`` here: a
draft never fits anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from functools import cache
from importlib import resources

WEIGHTS_FILE = "weights.json"


@dataclass(frozen=True, slots=True)
class Weights:
    centrality: float = 1.0
    information: float = 1.0
    position: float = 1.0
    question: float = 0.0
    topic: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Weights:
        data = json.loads(text)
        return cls(**{f.name: float(data[f.name]) for f in fields(cls) if f.name in data})


@cache
def shipped_weights() -> Weights:
    """The weights in the package's weights.json; the neutral ones when it is missing."""
    source = resources.files(__package__).joinpath(WEIGHTS_FILE)
    return Weights.from_json(source.read_text(encoding="utf-8")) if source.is_file() else Weights()
