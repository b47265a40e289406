"""Whole threads: who takes part, who answers whom, when, and about what.

A thread is generated in one go from its own seed (so any thread can be
rebuilt alone), as (envelope, bytes) pairs in the order they were written.
Replies answer the latest message most often, the first one often, anything
else sometimes: that gives real depth (long chains) and breadth (many
answers to the opening post).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.tools.bench import lexicon as lx
from bot.tools.bench.bodies import Posted, build_log, commit_message, diff, opening, reply
from bot.tools.bench.mail import Envelope, Person, render
from bot.tools.bench.prose import Topic, Writer

KINDS = ("discussion", "question", "patch", "announce")
KIND_WEIGHTS = (50, 22, 20, 8)
CLIENTS = ("Mutt/2.2.12 (2023-09-09)", "Mozilla Thunderbird 115.6.0", "Microsoft Outlook 16.0", "Gmail",
           "Evolution 3.50.2", "Apple Mail (2.3774)", "git-send-email 2.43.0")
Message = tuple[Envelope, bytes]


@dataclass(frozen=True, slots=True)
class ThreadPlan:
    index: int
    kind: str
    size: int
    start: datetime
    seed: int


def make_people(rng: random.Random, count: int) -> list[Person]:
    people = []
    for i in range(count):
        if rng.random() < 0.06:
            name = rng.choice(lx.ACCENTED_NAMES)
        else:
            name = f"{rng.choice(lx.FIRST_NAMES)} {rng.choice(lx.LAST_NAMES)}"
        local = name.split()[0].lower().encode("ascii", "ignore").decode() or "user"
        address = f"{local}.{i}@{rng.choice(lx.DOMAINS)}"
        signature: tuple[str, ...] = ()
        if rng.random() < 0.5:
            signature = (name, rng.choice(lx.COMPANIES), f"https://{address.split('@')[1]}/~{local}")
        client = rng.choice(CLIENTS)
        people.append(Person(name, address, signature, client, 0.6 if rng.random() < 0.08 else 0.01))
    return people


def thread_size(rng: random.Random) -> int:
    """Heavy-tailed: most threads are short, a few run to hundreds of replies."""
    roll = rng.random()
    if roll < 0.34:
        return 1
    if roll < 0.64:
        return rng.randint(2, 4)
    if roll < 0.84:
        return rng.randint(5, 12)
    if roll < 0.945:
        return rng.randint(13, 40)
    if roll < 0.99:
        return rng.randint(41, 100)
    return rng.randint(101, 250)


def build_thread(plan: ThreadPlan, people: list[Person], weights: list[float]) -> list[Message]:
    rng = random.Random(plan.seed)
    topic = Topic.draw(rng)
    writer = Writer(rng, topic)
    cast = _cast(rng, people, weights, plan.size)
    builder = _Thread(plan, rng, writer, topic, cast)
    return builder.messages()


def _cast(rng: random.Random, people: list[Person], weights: list[float], size: int) -> list[Person]:
    wanted = min(size, 2 + int(size**0.6))
    chosen: dict[str, Person] = {}
    while len(chosen) < wanted:
        person = rng.choices(people, weights)[0]
        chosen.setdefault(person.address, person)
    return list(chosen.values())


class _Thread:
    def __init__(self, plan: ThreadPlan, rng: random.Random, writer: Writer, topic: Topic,
                 cast: list[Person]) -> None:
        self.plan, self.rng, self.writer, self.topic, self.cast = plan, rng, writer, topic, cast
        self.posted: list[Posted] = []
        self.out: list[Message] = []

    def messages(self) -> list[Message]:
        if self.plan.kind == "patch":
            self._series()
        else:
            self._post(self._root_subject(), None, self.cast[0], self._opening_text())
        while len(self.out) < self.plan.size:
            parent = self._parent()
            author = self._replier(parent.author)
            self._post(self._reply_subject(parent), parent, author, reply(self.writer, author, parent))
        return self.out

    # -- subjects and bodies ----------------------------------------------------

    def _root_subject(self) -> str:
        title = self.topic.title(self.rng)
        if self.plan.kind == "announce":
            return f"[ANN] {self.topic.components[0]} {self.topic.release} released"
        return title

    def _opening_text(self) -> str:
        author = self.cast[0]
        if self.plan.kind == "announce":
            changes = "\n".join(f"  * {self.writer.sentence()}" for _ in range(self.rng.randint(3, 8)))
            text = opening(self.writer, author, 1)
            return f"{text}\n\nChanges since the last release:\n\n{changes}\n"
        paragraphs = 1 if self.plan.kind == "question" else self.rng.randint(2, 5)
        return opening(self.writer, author, paragraphs)

    def _reply_subject(self, parent: Posted) -> str:
        subject = parent.subject
        if self.rng.random() < 0.01:
            return f"{self.topic.title(self.rng)} (was: {subject.removeprefix('Re: ')})"
        return subject if subject.startswith("Re: ") else "Re: " + subject

    def _series(self) -> None:
        count = min(self.plan.size, self.rng.choice((1, 1, 1, 2, 3, 4, 5, 8)))
        version = self.rng.choice(("", "", "v2 ", "v3 "))
        author = self.cast[0]
        component = self.topic.components[0]
        cover: Posted | None = None
        if count > 1:
            title = f"[PATCH {version}0/{count}] {component}: {self.writer.verb()} the {self.writer.noun()}"
            cover = self._post(title, None, author, opening(self.writer, author, 2) + "\n\n"
                               + diff(self.writer, component, 0))
        for i in range(1, count + 1):
            counter = f"{i}/{count}" if count > 1 else ""
            subject = f"[PATCH {version}{counter}]".replace(" ]", "]") + f" {component}: {self.writer.verb()} " \
                      f"{self.writer.phrase()}"
            reviewers = self.rng.sample(self.cast, min(len(self.cast), self.rng.randint(0, 2)))
            text = commit_message(self.writer, author, reviewers) + "\n" + diff(self.writer, component, 2)
            self._post(subject, cover, author, text)

    # -- structure ----------------------------------------------------------------

    def _parent(self) -> Posted:
        roll = self.rng.random()
        if roll < 0.55:
            return self.posted[-1]
        if roll < 0.8:
            return self.posted[0]
        return self.rng.choice(self.posted)

    def _replier(self, parent: Person) -> Person:
        others = [p for p in self.cast if p.address != parent.address] or self.cast
        if self.rng.random() < 0.25 and self.cast[0] in others:
            return self.cast[0]
        return self.rng.choice(others)

    def _post(self, subject: str, parent: Posted | None, author: Person, text: str) -> Posted:
        rng = self.rng
        index = len(self.out)
        message_id = f"<{self.plan.index}.{index}.{rng.getrandbits(32):08x}@{author.address.split('@')[1]}>"
        date = self.plan.start if parent is None else parent.date + _delay(rng)
        references = (*parent.references, parent.message_id)[-20:] if parent else ()
        env = Envelope(message_id, author, date, subject, parent.message_id if parent else None, references,
                       cc=(f"{parent.author.name} <{parent.author.address}>",) if parent and rng.random() < 0.3 else ())
        alternative = author.client == "Gmail" or (author.client.startswith("Microsoft") and rng.random() < 0.5)
        raw = render(env, text, rng, html_only=rng.random() < author.html, alternative=alternative,
                     attachment=build_log(rng, rng.randint(40, 400)) if rng.random() < 0.015 else None,
                     signed=rng.random() < 0.03)
        posted = Posted(message_id, author, date, subject, text, references)
        self.posted.append(posted)
        self.out.append((env, raw))
        return posted


def _delay(rng: random.Random) -> timedelta:
    minutes = min(rng.expovariate(1 / 360), 9 * 24 * 60)
    return timedelta(minutes=3 + minutes)
