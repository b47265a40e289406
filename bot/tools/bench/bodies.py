"""Message bodies: what people write, how they quote, sign and patch.

A body is built from the author's prose plus the conventions around it:
greetings, "On ... wrote:" attributions with the parent quoted (bottom,
interleaved or top-posted Outlook style), sign-offs, "-- " signatures, and
for patch series commit messages with diffstats and unified diffs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from bot.tools.bench import lexicon as lx
from bot.tools.bench.mail import Person
from bot.tools.bench.prose import Writer, wrap

MAX_QUOTED_LINES = 30


@dataclass(frozen=True, slots=True)
class Posted:
    """What a reply needs of an earlier message of its thread."""

    message_id: str
    author: Person
    date: datetime
    subject: str
    text: str  # the body as written (quotes and signature included; no list footer)
    references: tuple[str, ...]


# Paragraphs of a reply's own text. Calibrated (version 3 of the traffic) on the real list,
# whose busiest month held about 4,200 sentences in 352 messages and took sumy's LexRank about 25 s:
# replies of 1-6 paragraphs gave 2,968 sentences (sumy 9-16 s here), these give about 3,500 (23 s).
REPLY_PARAGRAPHS = (2, 3, 3, 4, 4, 5, 5, 6, 7, 8)


def opening(w: Writer, author: Person, paragraphs: int) -> str:
    """A thread's first message: a greeting, some prose, a sign-off."""
    parts = ["Hi all,"] if w.rng.random() < 0.4 else []
    parts += [_filled(p) for p in w.prose(paragraphs)]
    return _signed(w.rng, parts, author)


def reply(w: Writer, author: Person, parent: Posted) -> str:
    """A reply quoting `parent` in one of the usual styles."""
    rng = w.rng
    if rng.random() < 0.15:
        own = [w.short_reply()] + ([w.sentence()] if rng.random() < 0.5 else [])
        return _signed(rng, [_attribution(rng, parent), _quoted(parent.text, 8), _filled(" ".join(own))], author)
    own = [_filled(p) for p in w.prose(rng.choice(REPLY_PARAGRAPHS))]
    greeting = [f"Hi {parent.author.first},"] if rng.random() < 0.3 else []
    style = rng.random()
    if style < 0.2:
        return _interleaved(w, author, parent, greeting)
    if style < 0.32:
        return _top_posted(rng, author, parent, greeting + own)
    return _signed(rng, [*greeting, _attribution(rng, parent), _quoted(parent.text, MAX_QUOTED_LINES), *own],
                   author)


def _interleaved(w: Writer, author: Person, parent: Posted, greeting: list[str]) -> str:
    blocks = [b for b in parent.text.split("\n\n") if b.strip() and not b.startswith(("-- ", ">"))][:4]
    parts = [*greeting, _attribution(w.rng, parent)]
    for block in blocks or [parent.text]:
        parts.append(_quoted(block, 12))
        parts.append(_filled(w.paragraph(1, 4)))
    return _signed(w.rng, parts, author)


def _top_posted(rng: random.Random, author: Person, parent: Posted, own: list[str]) -> str:
    header = (f"-----Original Message-----\nFrom: {parent.author.name} <{parent.author.address}>\n"
              f"Sent: {parent.date.strftime('%A, %B %d, %Y %I:%M %p')}\nTo: {lx.FIRST_NAMES[0]} list\n"
              f"Subject: {parent.subject}\n\n{parent.text}")
    body = _signed(rng, own, author)
    return body + "\n\n" + header


def _attribution(rng: random.Random, parent: Posted) -> str:
    when, who = parent.date, parent.author
    return rng.choice((
        f"On {when.strftime('%a, %d %b %Y %H:%M:%S %z')}, {who.name} <{who.address}> wrote:",
        f"On {when.strftime('%a, %b %d, %Y at %I:%M %p')} {who.name} <{who.address}> wrote:",
        f"On {when.strftime('%m/%d/%y %H:%M')}, {who.name} wrote:",
        f"{who.name} wrote:",
    ))


def _quoted(text: str, limit: int) -> str:
    out = []
    for line in text.splitlines():
        if line.startswith(">>>"):
            continue  # people trim deep quotes
        out.append(">" + line if line.startswith(">") else ("> " + line if line else ">"))
        if len(out) >= limit:
            break
    return "\n".join(out)


def _filled(paragraph: str) -> str:
    return "\n".join(wrap(paragraph))


def _signed(rng: random.Random, parts: list[str], author: Person) -> str:
    if rng.random() < 0.45:
        parts = [*parts, f"{rng.choice(('Thanks,', 'Cheers,', 'Regards,', 'Best,'))}\n{author.first}"]
    text = "\n\n".join(parts)
    if author.signature:
        text += "\n\n-- \n" + "\n".join(author.signature)
    return text


# -- patches -----------------------------------------------------------------


def commit_message(w: Writer, author: Person, reviewers: list[Person]) -> str:
    lines = [_filled(p) for p in w.prose(w.rng.randint(1, 2))]
    trailers = [f"Reviewed-by: {p.name} <{p.address}>" for p in reviewers]
    trailers.append(f"Signed-off-by: {author.name} <{author.address}>")
    return "\n\n".join([*lines, "\n".join(trailers)])


def diff(w: Writer, component: str, hunks: int) -> str:
    """A plausible unified diff (with diffstat) against one or two files."""
    rng = w.rng
    files = [lx.source_path(rng, component) for _ in range(rng.randint(1, 2))]
    stat = [f" {path} | {rng.randint(2, 60)} {'+' * rng.randint(1, 12)}{'-' * rng.randint(0, 8)}" for path in files]
    out = ["---", *stat, f" {len(files)} files changed", ""]
    for path in files:
        out += [f"diff --git a/{path} b/{path}", f"index {rng.getrandbits(28):07x}..{rng.getrandbits(28):07x} 100644",
                f"--- a/{path}", f"+++ b/{path}"]
        for _ in range(hunks):
            out += _hunk(w)
    out.append("-- \n2.43.0")
    return "\n".join(out)


def _hunk(w: Writer) -> list[str]:
    rng = w.rng
    start = rng.randint(1, 2000)
    lines = [f"@@ -{start},7 +{start},8 @@ static int {w.verb()}_{w.noun().split()[-1]}(struct ctx *ctx)"]
    for _ in range(rng.randint(6, 18)):
        kind = rng.choices((" ", "+", "-"), (6, 2, 1))[0]
        noun, other = w.noun().split()[-1], rng.choice(lx.NOUNS)
        lines.append(rng.choice((
            f"{kind}\tif (ctx->{noun} == NULL)",
            f"{kind}\t\treturn -EINVAL;",
            f"{kind}\t{other}_{w.verb()}(ctx->{noun}, {rng.randint(0, 4096)});",
            f"{kind}\t/* {w.verb()} the {noun} before the {other} */",
            f"{kind}\tret = {w.verb()}_{other}(&ctx->{noun});",
            f"{kind}}}",
        )))
    return lines


def build_log(rng: random.Random, lines: int) -> bytes:
    out = [f"[{i:05d}] CC src/{rng.choice(lx.NOUNS)}/{rng.choice(lx.NOUNS)}.o" for i in range(lines)]
    out.append("make: *** [Makefile:42: all] Error 1")
    return ("\n".join(out) + "\n").encode()
