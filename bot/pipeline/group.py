"""Group threads into agenda items and sections, as a chair would.

Threads on one topic become one item (a talk's feedback thread, its slides
thread and a forwarded copy); a patch series or a pull request becomes one
line; every item lands in the first section whose rule matches, AOB otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from bot.model import AOB, Item, Thread
from bot.pipeline.clean import CleanBody
from bot.pipeline.series import (
    build_item,
    build_report,
    patch_item,
    pull_request_item,
    pull_request_of,
    same_send,
    series_key,
)
from bot.pipeline.subject import subject_tags
from bot.pipeline.topics import group_topics, topic_title
from bot.settings import SectionRule

PATCHES = "patches"
STATUS = "status"

# Rule order is match priority: a "[PATCH] fix the call script" is a patch.
# Tuned on real lists: each pattern must say what the thread *is* (a vote, a
# talk, the call), not merely mention the word ("release" alone is often a
# question about one, "conf" is httpd.conf, "profile" is a Maven profile).
DEFAULT_RULES: tuple[SectionRule, ...] = (
    SectionRule(
        key=PATCHES, title="Patches",
        subject=(r"\bpatch(es)?\b", r"\bpull request\b", r"\bgit pull\b", r"\bPR #?\d+",
                 r"\bmerg(e|es|ed|ing)\b.*\b(to|into) (master|main|trunk|develop)\b"),
        tags=("patch", "rfc", "pull", "pr"),
    ),
    SectionRule(
        key="releases", title="Releases and announcements",
        subject=(r"\breleased\b", r"\brelease (of )?v?\d+(\.\d+)+", r"v?\d+(\.\d+)+ (is )?(out|released|available)\b",
                 r"\bannounc(e|es|ed|ing|ement)\b", r"\brc\d+\b", r"\bavailable for download\b",
                 r"\bnow available\b"),
        body=(r"\b(pleased|happy|proud|glad) to announce\b", r"\bwe(('ve| have) just| have|'ve) released\b"),
        tags=("ann", "announce", "release", "vote", "result", "canceled", "cancelled"),
    ),
    SectionRule(
        key="talks", title="Talks and events",
        subject=(r"\btalks?\b", r"\bslides?\b", r"summit\b", r"\bconference\b(?! call)", r"\bworkshop\b",
                 r"\bmeetup\b", r"\bhackathon\b", r"\bpresentation\b", r"\bfosdem\b", r"\bwebinar\b",
                 r"\bf2f\b", r"\bface[- ]to[- ]face\b", r"\bsprint\b", r"\bcall for (papers|proposals|talks)\b"),
        tags=("event", "talk", "cfp"),
    ),
    SectionRule(
        key="call", title="The weekly call",
        subject=(r"\b(weekly|next|the|this week'?s|today'?s|our|conference|phone|video|community) (call|meeting)\b",
                 r"(^|\]\s*)call\b", r"\bagenda\b", r"\bminutes\b", r"\bhangouts?\b", r"\bjitsi\b", r"\bzoom\b",
                 r"\bgotomeeting\b", r"\bdial[- ]in\b", r"\btelcos?\b", r"\btelcons?\b", r"\btelecon(ference)?s?\b"),
        tags=("call", "meeting", "agenda"),
    ),
    SectionRule(
        key=STATUS, title="Status updates",
        subject=(r"\bstatus\b", r"\bprogress\b", r"\bweekly (update|report)\b", r"\broadmap\b",
                 r"\bprofiling\b", r"\bbenchmarks?\b", r"\bjenkins build\b", r"\bbuild failed in jenkins\b",
                 r"\bbuild (is|became) (still )?(failing|unstable|broken)\b", r"\bbuild is back to (stable|normal)\b"),
        tags=("status", "report", "update"),
    ),
    SectionRule(key=AOB, title="Any other business"),
)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: SectionRule
    subject: tuple[re.Pattern[str], ...]
    body: tuple[re.Pattern[str], ...]

    def matches_subject(self, thread: Thread) -> bool:
        tags = {t.split()[0] for mail in thread.mails[:1] for t in subject_tags(mail.subject) if t}
        if tags & set(self.rule.tags):
            return True
        subjects = " ".join(dict.fromkeys(m.subject for m in thread.mails[:3]))
        return any(p.search(subjects) for p in self.subject)

    def matches_body(self, thread: Thread) -> bool:
        first_body = thread.mails[0].body[:4000] if thread.mails else ""
        return any(p.search(first_body) for p in self.body)

    def matches(self, thread: Thread) -> bool:
        return self.matches_subject(thread) or self.matches_body(thread)


def effective_rules(custom: Sequence[SectionRule]) -> tuple[SectionRule, ...]:
    """Built-in rules with the config's overrides, additions and removals."""
    by_key = {rule.key: rule for rule in DEFAULT_RULES}
    order = [rule.key for rule in DEFAULT_RULES if rule.key != AOB]
    for rule in custom:
        base = by_key.get(rule.key)
        if base is None:
            order.append(rule.key)
            by_key[rule.key] = rule if rule.title else replace(rule, title=rule.key.title())
        else:
            by_key[rule.key] = replace(
                base, title=rule.title or base.title, enabled=rule.enabled,
                subject=rule.subject or base.subject, body=rule.body or base.body, tags=rule.tags or base.tags,
            )
    order.append(AOB)  # the fallback is always last to match
    return tuple(by_key[key] for key in order)


def compile_rules(rules: Sequence[SectionRule]) -> list[CompiledRule]:
    return [
        CompiledRule(
            rule,
            tuple(re.compile(p, re.IGNORECASE) for p in rule.subject),
            tuple(re.compile(p, re.IGNORECASE | re.MULTILINE) for p in rule.body),
        )
        for rule in rules
    ]


def section_of(item: Item, rules: Sequence[CompiledRule]) -> str:
    """The key of the first enabled rule matching the item's first thread.

    Subjects and tags are read before bodies: a talk announced as "pleased to
    announce" is still a talk.
    """
    enabled = [c for c in rules if c.rule.key != AOB and c.rule.enabled]
    thread = item.threads[0]
    if is_change(thread) and any(c.rule.key == PATCHES for c in enabled):
        return PATCHES
    if is_build(thread) and any(c.rule.key == STATUS for c in enabled):
        return STATUS
    for matches in (CompiledRule.matches_subject, CompiledRule.matches_body):
        for compiled in enabled:
            if matches(compiled, thread):
                return compiled.rule.key
    return AOB


def is_change(thread: Thread) -> bool:
    """A patch series or a pull request: shown as one line, filed under patches."""
    return series_key(thread) is not None or (bool(thread.mails) and pull_request_of(thread.mails[0]) is not None)


def is_build(thread: Thread) -> bool:
    """A CI server's build reports: shown as one line, filed under status updates."""
    return bool(thread.new_mails) and all(build_report(m.subject) for m in thread.new_mails)


def make_items(threads: Sequence[Thread], cleaned: Mapping[str, CleanBody]) -> list[Item]:
    """One item per topic: patch series, pull requests and CI jobs collapse, similar topics merge."""
    series: list[list[Thread]] = []
    requests: dict[tuple[str, int], list[Thread]] = {}
    builds: dict[str, list[Thread]] = {}
    discussions: list[Thread] = []
    for thread in threads:
        request = next((pr for m in thread.mails if (pr := pull_request_of(m))), None)
        if request is not None:
            # A pull request reopened under a new number keeps its title: one line for both.
            key = (request.repo.lower(), request.number)
            same_title = next((k for k, ts in requests.items() if _request_title(ts) == request.title.lower()), key)
            requests.setdefault(same_title, []).append(thread)
        elif series_key(thread) is not None:
            group = next((g for g in series if same_send(g[0], thread)), None)
            if group is None:
                series.append([thread])
            else:
                group.append(thread)
        elif is_build(thread):  # a person's reply makes it a discussion
            job = build_report(thread.new_mails[0].subject)
            builds.setdefault(job[0].lower() if job else "", []).append(thread)
        else:
            discussions.append(thread)
    items = [patch_item(group, cleaned) for group in series]
    items += [pull_request_item(group) for group in requests.values()]
    items += [build_item(group) for group in builds.values()]
    items += [Item(title=topic_title(group), threads=tuple(group)) for group in group_topics(discussions, cleaned)]
    return items


def _request_title(threads: Sequence[Thread]) -> str:
    first = next((pr for m in threads[0].mails if (pr := pull_request_of(m))), None)
    return first.title.lower() if first else ""
