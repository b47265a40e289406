"""Sentences and paragraphs of list prose, from a seeded random generator.

A `Topic` is what one thread is about: a couple of components, a handful of
nouns and verbs that recur in every message of the thread. Sentences mix
topic words with the general vocabulary, so LexRank sees a real similarity
graph: dense within a thread, sparse across threads.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from bot.tools.bench import lexicon as lx


@dataclass(frozen=True, slots=True)
class Topic:
    components: tuple[str, ...]
    nouns: tuple[str, ...]
    verbs: tuple[str, ...]
    adjectives: tuple[str, ...]
    release: str

    @classmethod
    def draw(cls, rng: random.Random) -> Topic:
        return cls(
            components=tuple(lx.identifier(rng) for _ in range(rng.randint(1, 3))),
            nouns=tuple(rng.sample(lx.NOUNS, 12)),
            verbs=tuple(rng.sample(lx.VERBS, 6)),
            adjectives=tuple(rng.sample(lx.ADJECTIVES, 4)),
            release=lx.version(rng),
        )

    def title(self, rng: random.Random) -> str:
        component = rng.choice(self.components)
        return rng.choice((
            f"{component}: {rng.choice(self.verbs)} the {rng.choice(self.nouns)} {rng.choice(self.nouns)}",
            f"{rng.choice(self.adjectives).capitalize()} {rng.choice(self.nouns)} in {component} {self.release}",
            f"Proposal: {rng.choice(self.verbs)} {component} {rng.choice(self.nouns)}s",
            f"How to {rng.choice(self.verbs)} the {component} {rng.choice(self.nouns)}?",
            f"{component} {rng.choice(self.nouns)} {lx.past(rng.choice(self.verbs))} after upgrade",
        ))


class Writer:
    """Writes sentences about one topic with its own random stream."""

    def __init__(self, rng: random.Random, topic: Topic) -> None:
        self.rng = rng
        self.topic = topic
        self._templates: tuple[Callable[[], str], ...] = (
            self._claim, self._claim, self._opinion, self._question, self._measurement,
            self._conditional, self._contrast, self._pointer, self._proposal, self._history,
            self._request, self._dependency, self._already,
        )

    # -- words --------------------------------------------------------------

    def noun(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.18:
            return rng.choice(self.topic.nouns)
        if roll < 0.24:
            return f"{rng.choice(self.topic.components)} {rng.choice(self.topic.nouns)}"
        return rng.choice(lx.NOUNS)

    def phrase(self) -> str:
        rng = self.rng
        parts = [rng.choice(lx.DETERMINERS)]
        if rng.random() < 0.4:
            parts.append(rng.choice(self.topic.adjectives if rng.random() < 0.5 else lx.ADJECTIVES))
        parts.append(self.noun())
        if parts[0] == "a" and parts[1][0] in "aeiou":
            parts[0] = "an"
        if rng.random() < 0.2:
            parts += ["of", "the", self.noun()]
        return " ".join(parts)

    def verb(self) -> str:
        return self.rng.choice(self.topic.verbs if self.rng.random() < 0.3 else lx.VERBS)

    def tail(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.35:
            return ""
        if roll < 0.75:
            return f" {rng.choice(lx.PREPOSITIONS)} {self.phrase()}"
        if roll < 0.85:
            return f" in {rng.choice(self.topic.components)} {self.topic.release}"
        return f" {rng.choice(lx.ADVERBS)}"

    # -- sentence shapes ------------------------------------------------------

    def _claim(self) -> str:
        return f"{self.phrase().capitalize()} {lx.third_person(self.verb())} {self.phrase()}{self.tail()}."

    def _opinion(self) -> str:
        lead = self.rng.choice(("I think", "I suspect", "My feeling is that", "It seems", "I doubt"))
        return f"{lead} {self.phrase()} should {self.verb()} {self.phrase()}{self.tail()}."

    def _question(self) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            return f"Has anyone tried {lx.gerund(self.verb())} {self.phrase()}{self.tail()}?"
        return (f"Why does {self.phrase()} {self.verb()} {self.phrase()} when {self.phrase()} is "
                f"{rng.choice(lx.ADJECTIVES)}?")

    def _measurement(self) -> str:
        rng = self.rng
        before, after = rng.randint(2, 900), rng.randint(2, 900)
        return (f"In my tests {self.phrase()} took {before} ms with {self.phrase()} and {after} ms "
                f"after {lx.gerund(self.verb())} {self.phrase()}.")

    def _conditional(self) -> str:
        return (f"If we {self.verb()} {self.phrase()}, {self.phrase()} will {self.verb()} "
                f"{self.phrase()}{self.tail()}.")

    def _contrast(self) -> str:
        rng = self.rng
        return (f"{rng.choice(lx.CONNECTIVES)} {self.phrase()} was {rng.choice(lx.ADJECTIVES)} in "
                f"{lx.version(rng)}, but {self.phrase()} is still {rng.choice(self.topic.adjectives)}.")

    def _pointer(self) -> str:
        rng = self.rng
        path = lx.source_path(rng, rng.choice(self.topic.components))
        return f"See {path} for how {self.phrase()} {lx.third_person(self.verb())} {self.phrase()}."

    def _proposal(self) -> str:
        return (f"I'd rather {self.verb()} {self.phrase()} first, because {self.phrase()} "
                f"{lx.third_person(self.verb())} {self.phrase()}{self.tail()}.")

    def _history(self) -> str:
        return (f"Last time we {lx.past(self.verb())} {self.phrase()}, {self.phrase()} "
                f"{lx.past(self.verb())} {self.phrase()}{self.tail()}.")

    def _request(self) -> str:
        return f"Could someone {self.verb()} {self.phrase()}{self.tail()}?"

    def _dependency(self) -> str:
        return f"Note that {self.phrase()} depends on {self.phrase()}{self.tail()}."

    def _already(self) -> str:
        return (f"We already {self.verb()} {self.phrase()}, so {self.phrase()} only needs "
                f"{lx.gerund(self.verb())} {self.phrase()}.")

    # -- larger units ---------------------------------------------------------

    def sentence(self) -> str:
        return self.rng.choice(self._templates)()

    def paragraph(self, low: int = 2, high: int = 6) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(low, high)))

    def prose(self, paragraphs: int) -> list[str]:
        return [self.paragraph() for _ in range(paragraphs)]

    def short_reply(self) -> str:
        rng = self.rng
        return rng.choice((
            "+1, looks good to me.",
            f"Agreed, let's {self.verb()} {self.phrase()}.",
            "Thanks, that works for me.",
            f"Same here with {rng.choice(self.topic.components)} {self.topic.release}.",
            f"ACTION: {rng.choice(lx.FIRST_NAMES)} to {self.verb()} {self.phrase()} before the next call.",
        ))


def wrap(text: str, width: int = 72) -> list[str]:
    """Greedy word wrap, as a mail client does it."""
    lines: list[str] = []
    current: list[str] = []
    length = 0
    for word in text.split():
        if current and length + 1 + len(word) > width:
            lines.append(" ".join(current))
            current, length = [], 0
        current.append(word)
        length += len(word) + (1 if length else 0)
    if current:
        lines.append(" ".join(current))
    return lines
