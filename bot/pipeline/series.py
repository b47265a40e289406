"""Patch series, pull requests and build reports: one line each, never a summary.

A "[PATCH v3 0/7]" series and its replies, or a pull request and the
notification mails GitHub sends about it, are read for who did what (author,
reviewers, commenters) and how it ended (acked, merged, closed); a CI server's
mails for one job, for how the build went. Their text is boilerplate, code or
logs, so summarizing it would only quote noise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.model import Item, Mail, Thread
from bot.pipeline.clean import CleanBody
from bot.pipeline.subject import clean_title, is_reply, patch_info, subject_tags

_MERGED = re.compile(r"\b(applied|merged|pushed|queued|committed)\b", re.IGNORECASE)
_REVIEW_TRAILERS = ("acked-by", "reviewed-by", "tested-by")
# An unthreaded series (each patch its own thread) still came out of one send.
SERIES_WINDOW = timedelta(hours=24)

# "[GitHub] maven-surefire pull request #168: title" (ASF's git mirror).
_MIRROR_SUBJECT = re.compile(r"(?P<repo>[\w.-]+) (?P<kind>pull request|issue) #(?P<number>\d+):\s*(?P<title>.*)")
# "[GitHub] hboutemy closed pull request #27: title" (ASF GitBox).
_ACTOR_SUBJECT = re.compile(
    r"(?P<user>[\w.-]+) (?P<action>opened|commented on|closed|merged|reopened|edited|created|submitted|removed"
    r"|approved)\b.*?(?P<kind>pull request|issue) #(?P<number>\d+):\s*(?P<title>.*)"
)
# "Re: [owner/repo] title (#123)" (github.com notifications).
_NOTIFICATION_SUBJECT = re.compile(r"(?P<title>.*?)\s*\(#(?P<number>\d+)\)$")
_BODY_EVENT = re.compile(r"Git[Hh]ub user (?P<user>[\w.-]+) (?P<action>opened|commented|closed|reopened|merged)\b")
_NOTIFICATION_EVENT = re.compile(r"^(?P<action>Merged|Closed|Reopened) #\d+", re.MULTILINE)
_REPO_URL = re.compile(r"github\.com/[\w.-]+/(?P<repo>[\w.-]+)/(?:pull|issues)/(?P<number>\d+)")


@dataclass(frozen=True, slots=True)
class PullRequest:
    """What a GitHub notification is about."""

    repo: str
    number: int
    title: str
    kind: str  # "pull request" or "issue"

    @property
    def key(self) -> tuple[str, int]:
        return (self.repo.lower(), self.number)


@dataclass(frozen=True, slots=True)
class Event:
    user: str
    action: str  # opened, commented, closed, merged, reopened


def pull_request_of(mail: Mail) -> PullRequest | None:
    """The pull request (or issue) a GitHub notification mail is about; None for other mail."""
    tags = subject_tags(mail.subject)
    title = clean_title(mail.subject)
    if "github" in tags:
        if match := _MIRROR_SUBJECT.fullmatch(title):
            return PullRequest(match["repo"], int(match["number"]), match["title"], match["kind"])
        if match := _ACTOR_SUBJECT.fullmatch(title):
            url = _REPO_URL.search(mail.body[:2000])
            repo = url["repo"] if url and int(url["number"]) == int(match["number"]) else ""
            return PullRequest(repo, int(match["number"]), match["title"], match["kind"])
    repo_tag = next((t for t in tags if re.fullmatch(r"[\w.-]+/[\w.-]+", t)), "")
    if repo_tag and "github" in mail.from_addr.lower() and (match := _NOTIFICATION_SUBJECT.fullmatch(title)):
        kind = "pull request" if "/pull/" in mail.body else "issue"
        return PullRequest(repo_tag.split("/")[1], int(match["number"]), match["title"], kind)
    return None


def is_notification(mail: Mail) -> bool:
    """Mail a machine sent: a GitHub notification or a CI build report."""
    return pull_request_of(mail) is not None or build_report(mail.subject) is not None


def event_of(mail: Mail) -> Event:
    """Who did what in one notification mail."""
    title = clean_title(mail.subject)
    if "github" in subject_tags(mail.subject) and (match := _ACTOR_SUBJECT.fullmatch(title)):
        return Event(match["user"], _action(match["action"], mail.body))
    if match := _BODY_EVENT.search(mail.body[:500]):
        return Event(match["user"], _action(match["action"], mail.body))
    if match := _NOTIFICATION_EVENT.search(mail.body[:500]):
        return Event(mail.author, match["action"].lower())
    return Event(mail.author, "commented" if is_reply(mail.subject) else "opened")


def _action(verb: str, body: str) -> str:
    verb = verb.lower()
    if verb == "closed" and re.search(r"\bmerged\b", body[:1000], re.IGNORECASE):
        return "merged"  # GitBox's close mail says "This is a PR merged from a forked repository"
    return {"commented on": "commented", "submitted": "commented", "approved": "commented",
            "edited": "commented", "removed": "commented", "created": "commented"}.get(verb, verb)


def pull_request_item(threads: Sequence[Thread]) -> Item:
    """Pull requests with one title as one line: number, author, comments, commenters, outcome."""
    mails = sorted((m for t in threads for m in t.new_mails), key=lambda m: (m.date, m.message_id))
    requests = [pr for m in (m for t in threads for m in t.mails) if (pr := pull_request_of(m))]
    numbers = sorted({pr.number for pr in requests})
    events = [event_of(m) for m in mails]
    author = next((e.user for e in events if e.action == "opened"), "")
    commenters = list(dict.fromkeys(e.user for e in events if e.action == "commented"))
    comments = sum(1 for e in events if e.action == "commented")
    outcome = next((e for e in reversed(events) if e.action in ("merged", "closed", "reopened")), None)
    kind = "pull request" if any(pr.kind == "pull request" for pr in requests) else "issue"
    repo = next((pr.repo for pr in requests if pr.repo), "")
    numbered = " and ".join(f"#{n}" for n in numbers) if len(numbers) < 3 else f"#{numbers[0]}–#{numbers[-1]}"
    kind += "s" if len(numbers) > 1 else ""
    label = f"{repo} {kind} {numbered}" if repo else f"{kind.capitalize()} {numbered}"
    parts = [label + (f" by {author}" if author else "")]
    if comments:
        parts.append(f"{_count(comments, 'comment')} by {', '.join(commenters)}")
    parts.append(f"{outcome.action} by {outcome.user}" if outcome else "open")
    people = tuple(dict.fromkeys(e.user for e in events if e.user))
    return Item(title=_best_title(requests, mails), threads=tuple(threads), note="; ".join(parts) + ".",
                people=people)


def _best_title(requests: Sequence[PullRequest], mails: Sequence[Mail]) -> str:
    """The subject's title, or the whole title from the opening mail when subjects cut it short."""
    whole = [pr.title for pr in requests if not pr.title.endswith(("...", "…", ".."))]
    if whole:
        return max(whole, key=len)
    title = max((pr.title for pr in requests), key=len)
    stem = title.rstrip(".…").strip()
    for mail in mails:
        for line in mail.body.splitlines()[:12]:
            line = line.strip()
            if line.startswith(stem) and len(line) > len(stem):
                return line
    return title


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def series_key(thread: Thread) -> tuple[str, int, int] | None:
    """(author, version, size) of a patch series thread; None for other threads."""
    info = patch_info(thread.mails[0].subject) if thread.mails else None
    if info is None:
        return None
    return (thread.mails[0].from_addr.lower(), info.version, info.total)


def same_send(one: Thread, other: Thread) -> bool:
    """Two threads of one unthreaded series: same author, version and size, sent together."""
    key = series_key(one)
    return (key is not None and key == series_key(other) and key[2] > 1
            and abs(one.mails[0].date - other.mails[0].date) <= SERIES_WINDOW)


def patch_item(threads: Sequence[Thread], cleaned: Mapping[str, CleanBody]) -> Item:
    """A patch series as one line: title, version, author, size, reviewers, outcome."""
    roots = [t.mails[0] for t in threads]
    cover = min(roots, key=lambda m: (_index(m), m.date))
    info = patch_info(cover.subject)
    assert info is not None
    mails = [m for t in threads for m in t.mails]
    count = max(info.total, len({p.index for m in mails if (p := patch_info(m.subject)) and p.index > 0}))
    reviewers: dict[str, None] = {}
    acked = merged = False
    for mail in mails:
        body = cleaned.get(mail.message_id)
        if body is None or mail.author == cover.author:
            continue
        for name, value in body.trailers:
            if name.lower() in _REVIEW_TRAILERS:
                reviewers.setdefault(value.split("<")[0].strip() or mail.author, None)
                acked = True
        if is_reply(mail.subject) or patch_info(mail.subject) is None:
            if body.support:
                reviewers.setdefault(mail.author, None)
                acked = True
            merged = merged or bool(_MERGED.search(body.text))
    outcome = "merged" if merged else "acked" if acked else "under review"
    version = f"v{info.version}, " if info.version > 1 else ""
    rfc = "RFC, " if info.rfc else ""
    note = f"{rfc}{version}{_count(count, 'patch').replace('patchs', 'patches')} by {cover.author}"
    if reviewers:
        note += "; reviewed by " + ", ".join(reviewers)
    note += f"; {outcome}."
    return Item(title=info.title or clean_title(cover.subject), threads=tuple(threads), note=note)


def _index(mail: Mail) -> int:
    info = patch_info(mail.subject)
    return info.index if info else 1 << 30


# Jenkins ("Jenkins build is still unstable: job 8c6e7cdb", "Build failed in Jenkins: job #12"),
# Travis ("Still Failing: org/repo#12 (master - 1a2b3c4)") and GitHub Actions ("Run failed: CI - main").
_BUILD = re.compile(
    r"(?:jenkins build (?:is |was |became )?|build (?:is|was|became) )(?P<jenkins>(?:still |back to )?(?:failed"
    r"|failing|unstable|stable|normal|fixed|broken|successful|aborted))\s*:\s*(?P<job>.+)"
    r"|build (?P<in>failed|fixed|unstable|aborted) in jenkins\s*:\s*(?P<job2>.+)"
    r"|(?P<ci>broken|fixed|still failing|passed|errored|canceled|failed|run failed|run succeeded)\s*:\s*"
    r"(?P<job3>\S+(?:#\d+| - ).*)",
    re.IGNORECASE,
)
_RUN_ID = re.compile(r"\s*(?:#\d+|\(.*\)|\b(?=[a-f]*\d)[0-9a-f]{7,40}\b)\s*$")


def build_report(subject: str) -> tuple[str, str] | None:
    """(job, state) of a CI server's build mail, or None for other mail (replies are people)."""
    if is_reply(subject):
        return None
    match = _BUILD.fullmatch(clean_title(subject).strip())
    if match is None:
        return None
    state = match["jenkins"] or match["in"] or match["ci"]
    job = match["job"] or match["job2"] or match["job3"]
    while (trimmed := _RUN_ID.sub("", job)) != job:
        job = trimmed  # run numbers and commit ids differ per mail; the job does not
    job = job.split("#")[0].strip(" -–»") if match["ci"] else job.strip()
    return (job, state.lower()) if job else None


def build_item(threads: Sequence[Thread]) -> Item:
    """One CI job's mails as one line: how many, and the states in order ("unstable x3, back to stable")."""
    mails = sorted((m for t in threads for m in t.new_mails), key=lambda m: (m.date, m.message_id))
    reports = [r for m in mails if (r := build_report(m.subject))]
    runs: list[list[str | int]] = []
    for _, state in reports:
        if runs and runs[-1][0] == state:
            runs[-1][1] = int(runs[-1][1]) + 1
        else:
            runs.append([state, 1])
    states = ", ".join(f"{state}" + (f" ×{n}" if int(n) > 1 else "") for state, n in runs)
    job = reports[0][0] if reports else clean_title(threads[0].subject)
    note = f"{_count(len(mails), 'build report')}: {states}." if states else ""
    return Item(title=f"Builds: {job}", threads=tuple(threads), note=note, people=())  # a CI server, no one
