"""Group threads into agenda items and sections, as a chair would.

Threads on one topic become one item (a talk's feedback thread, its slides
thread and a forwarded copy); a patch series becomes one line; every item
lands in the first section whose rule matches, AOB otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from bot.clean import CleanBody
from bot.model import Item, Thread
from bot.settings import SectionRule
from bot.subject import clean_title, patch_info, subject_tags

AOB = "aob"

# Rule order is match priority: a "[PATCH] fix the call script" is a patch.
DEFAULT_RULES: tuple[SectionRule, ...] = (
    SectionRule(
        key="patches", title="Patches",
        subject=(r"\bpatch(es)?\b", r"\bpull request\b", r"\bgit pull\b", r"\bmerge[ds]?\b"),
        tags=("patch", "rfc", "pull", "pr"),
    ),
    SectionRule(
        key="releases", title="Releases and announcements",
        subject=(r"\breleased?\b", r"\bannounce(ment|d)?\b", r"\[vote\]", r"\[result\]", r"\brc\d\b"),
        tags=("ann", "announce", "release", "vote", "result"),
    ),
    SectionRule(
        key="talks", title="Talks and events",
        subject=(r"\btalks?\b", r"\bslides?\b", r"summit\b", r"\bconf(erence)?\b", r"\bworkshop\b",
                 r"\bmeetup\b", r"\bhackathon\b", r"\bpresentation\b", r"\bfosdem\b", r"\bwebinar\b"),
        tags=("event", "talk", "cfp"),
    ),
    SectionRule(
        key="call", title="The weekly call",
        subject=(r"\b(weekly|next|the) (call|meeting)\b", r"\bcall\b", r"\bagenda\b", r"\bminutes\b",
                 r"\bhangouts?\b", r"\bjitsi\b", r"\bzoom\b", r"\bgotomeeting\b", r"\bdial[- ]in\b"),
        tags=("call", "meeting", "agenda"),
    ),
    SectionRule(
        key="status", title="Status updates",
        subject=(r"\bstatus\b", r"\bprogress\b", r"\bweekly (update|report)\b", r"\broadmap\b",
                 r"\bprofil(e|ing)\b", r"\bbenchmarks?\b", r"\bperformance\b"),
        tags=("status", "report", "update"),
    ),
    SectionRule(key=AOB, title="Any other business"),
)

_WORD = re.compile(r"[a-z0-9][a-z0-9+#.-]*")
_STOP = frozenset(
    "a an and are as at be by for from has have how i in is it my of on or our re the this to was we what "
    "with you your fwd about after new question questions".split()
)
_MERGED = re.compile(r"\b(applied|merged|pushed|queued|committed)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: SectionRule
    subject: tuple[re.Pattern[str], ...]
    body: tuple[re.Pattern[str], ...]

    def matches(self, thread: Thread) -> bool:
        tags = {t.split()[0] for mail in thread.mails[:1] for t in subject_tags(mail.subject) if t}
        if tags & set(self.rule.tags):
            return True
        subjects = " ".join(dict.fromkeys(m.subject for m in thread.mails[:3]))
        if any(p.search(subjects) for p in self.subject):
            return True
        first_body = thread.mails[0].body[:4000] if thread.mails else ""
        return any(p.search(first_body) for p in self.body)


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
    """The key of the first enabled rule matching the item's first thread."""
    for compiled in rules:
        if compiled.rule.key != AOB and compiled.rule.enabled and compiled.matches(item.threads[0]):
            return compiled.rule.key
    return AOB


def make_items(threads: Sequence[Thread], cleaned: Mapping[str, CleanBody]) -> list[Item]:
    """One item per topic: patch series collapse, similar subjects merge."""
    items: list[Item] = []
    groups: list[list[Thread]] = []
    for thread in threads:
        if _is_patch_series(thread):
            items.append(patch_item(thread, cleaned))
            continue
        for group in groups:
            if _same_topic(group, thread):
                group.append(thread)
                break
        else:
            groups.append([thread])
    items.extend(Item(title=_common_title(group), threads=tuple(group)) for group in groups)
    return items


def _content_words(title: str) -> set[str]:
    return {w.strip(".-") for w in _WORD.findall(title.lower())} - _STOP - {""}


def _same_topic(group: Sequence[Thread], thread: Thread) -> bool:
    words = _content_words(thread.subject)
    for other in group:
        theirs = _content_words(other.subject)
        shared = words & theirs
        if words == theirs and words:
            return True
        if len(shared) >= 2 and len(shared) / len(words | theirs) >= 0.5:
            return True
    return False


def _common_title(group: Sequence[Thread]) -> str:
    """The words all subjects share, in the first subject's order, if that says enough."""
    if len(group) == 1:
        return group[0].subject
    first = group[0].subject
    shared = set.intersection(*(_content_words(t.subject) for t in group))
    kept = [w for w in first.split() if w.lower().strip(".,:-") in shared]
    title = " ".join(kept)
    return title[:1].upper() + title[1:] if len(kept) >= 2 else first


def _is_patch_series(thread: Thread) -> bool:
    return patch_info(thread.mails[0].subject) is not None


def patch_item(thread: Thread, cleaned: Mapping[str, CleanBody]) -> Item:
    """A patch series as one line: title, version, author, size, reviewers, outcome."""
    root = thread.mails[0]
    info = patch_info(root.subject)
    assert info is not None
    patches = {patch_info(m.subject) for m in thread.mails}
    count = max(info.total, sum(1 for p in patches if p is not None and p.index > 0))
    reviewers: dict[str, None] = {}
    acked = merged = False
    for mail in thread.mails:
        body = cleaned.get(mail.message_id)
        if body is None or mail.from_addr == root.from_addr and mail is root:
            continue
        for name, value in body.trailers:
            if name.lower() in ("acked-by", "reviewed-by", "tested-by") and mail.author != root.author:
                reviewers.setdefault(value.split("<")[0].strip() or mail.author, None)
                acked = True
        if patch_info(mail.subject) is None or mail.subject.lower().startswith("re:"):
            if body.support and mail.author != root.author:
                reviewers.setdefault(mail.author, None)
                acked = True
            if _MERGED.search(body.text) and mail.author != root.author:
                merged = True
    outcome = "merged" if merged else "acked" if acked else "under review"
    version = f"v{info.version}, " if info.version > 1 else ""
    plural = "patch" if count == 1 else "patches"
    note = f"{version}{count} {plural} by {root.author}"
    if reviewers:
        note += "; reviewed by " + ", ".join(reviewers)
    note += f"; {outcome}."
    return Item(title=info.title or clean_title(root.subject), threads=(thread,), note=note)
