"""A big thread as points: its sub-discussions, each summarized on its own.

A 191-message thread summarized as one text becomes a string of one-liners
from all over it.  Minutes follow its sub-discussions instead: the reply
subtrees under the opening message (a reply that draws its own replies is a
discussion of its own), and, where everyone replied to the latest message so
the tree is a chain, stretches of it in date order.  Each sub-discussion is
summarized with words in proportion to its messages, and its summary opens
where it starts, so the reader gets three to six attributed points, each led
to its place in the archive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from bot.model import Mail, SummarySentence

BIG_THREAD = 15  # messages: a smaller discussion reads fine as one summary
MIN_POINTS, MAX_POINTS = 3, 6
MIN_SHARE = 0.05  # a sub-discussion with fewer of the messages joins the one it branched from
MIN_POINT_WORDS = 25  # enough for a sentence or two
MAX_POINT_WORDS = 70  # a point, not a second summary

Summarize = Callable[[Sequence[Mail], int], list[SummarySentence]]


def sub_discussions(mails: Sequence[Mail]) -> list[list[Mail]]:
    """The mails (in discussion order) as sub-discussions, each in date order, in the order they start."""
    order = {m.thread_id: i for i, m in enumerate(mails)}
    parent: dict[int, int] = {}
    for i, mail in enumerate(mails):
        for ref in (mail.in_reply_to, *reversed(mail.references)):
            if ref and ref in order and order[ref] < i:
                parent[i] = order[ref]
                break
    children: dict[int, list[int]] = {}
    for child, up in sorted(parent.items()):
        children.setdefault(up, []).append(child)
    groups = [_subtree(root, children) for root in range(len(mails)) if root not in parent]
    groups = _split(groups, children)
    groups = _merge_small(groups, parent, len(mails))
    if len(groups) < MIN_POINTS:
        groups = _stretches(groups)
    return [[mails[i] for i in sorted(g)] for g in sorted(groups, key=min)]


def summarize_points(mails: Sequence[Mail], words: int, summarize: Summarize) -> list[SummarySentence]:
    """A summary of *mails* point by point, when they are a big thread's; otherwise in one go."""
    if len(mails) < BIG_THREAD:
        return summarize(mails, words)
    groups = sub_discussions(mails)
    if len(groups) < 2:
        return summarize(mails, words)
    summary: list[SummarySentence] = []
    for group in groups:
        share = min(MAX_POINT_WORDS, max(MIN_POINT_WORDS, round(words * len(group) / len(mails))))
        summary.extend(replace(s, point=group[0].thread_id) for s in summarize(group, share))
    return summary


def _subtree(top: int, children: dict[int, list[int]]) -> list[int]:
    out, stack = [], [top]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(children.get(node, ()))
    return out


def _split(groups: list[list[int]], children: dict[int, list[int]]) -> list[list[int]]:
    """Split the biggest sub-discussion at its first fork, until there are enough of them."""
    groups = [list(g) for g in groups]
    while len(groups) < MAX_POINTS:
        for group in sorted(groups, key=len, reverse=True):
            pieces = _at_fork(group, children)
            if len(pieces) > 1:
                groups.remove(group)
                groups.extend(pieces)
                break
        else:
            return groups
    return groups


def _at_fork(group: list[int], children: dict[int, list[int]]) -> list[list[int]]:
    """The group cut at its first fork: the stem (its top down to the fork) joins the first branch."""
    members = set(group)

    def kids(node: int) -> list[int]:
        return [c for c in children.get(node, ()) if c in members]

    stem = [min(group)]
    while len(kids(stem[-1])) == 1:
        stem.append(kids(stem[-1])[0])
    branches = [_subtree(child, children) for child in kids(stem[-1])]
    if len(branches) < 2:
        return [group]
    return [stem + branches[0], *branches[1:]]


def _merge_small(groups: list[list[int]], parent: dict[int, int], total: int) -> list[list[int]]:
    """Sub-discussions too small to be a point join the one they branched from (or the biggest)."""
    groups = sorted(groups, key=len, reverse=True)
    keep = [g for g in groups if len(g) >= max(2, MIN_SHARE * total)][:MAX_POINTS] or groups[:1]
    for group in groups:
        if any(group is k for k in keep):
            continue
        home = next((k for k in keep if parent.get(min(group)) in k), keep[0])
        home.extend(group)
    return keep


def _stretches(groups: list[list[int]]) -> list[list[int]]:
    """A chain of replies cut into MIN_POINTS stretches in date order: its shifts of topic, roughly."""
    ordered = sorted(i for g in groups for i in g)
    size = -(-len(ordered) // MIN_POINTS)
    return [ordered[k : k + size] for k in range(0, len(ordered), size)]
