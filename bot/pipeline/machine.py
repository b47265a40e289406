"""Machine output in a mail body: diff headers, logs, stack traces, prompts and code.

`bot.pipeline.clean` asks, line by line, whether a line is something a person wrote or
something a program printed; minutes quote only the first.
"""

from __future__ import annotations

import re
from functools import cache

BULLET = re.compile(r"(?:[-*•+–]|\(?\d{1,2}[.)])\s+(?=\S)")  # "- ", "* ", "1. ", "(2) "
# Machine output: diff headers, logs, stack traces, prompts, code, links, banners. Each rule
# lists the characters its lines start with ("" for any); a line only meets the rules for
# its first character, as one 45-way alternation would cost every prose line ~1 µs.
_NOISE_RULES = (
    ("", r"\S++ +\| +\d+ ?[+-]*$|(?:[\w$]++\.){2,}(?:[A-Z][\w$<>]*$|[\w$<>]+\()|[\w$]++\.[a-z]{1,5}:\d+\)$"),
    ("", r"[\w.$]++\(.*\)$|(?:[a-z]\w*+\.)+[A-Z]\w*(?:Exception|Error)\b|[\w.-]++@[\w.-]+:\S*[$#] "),
    ("", r"(?:\[\d+\]:?\s*|[\w-]{1,12}+(?: [\w-]{1,12}+)?+:\s*|[Ss]ee:?\s+)?<?(?:https?|ftp)://\S+(?: <\S+>)?$"),
    ("d", r"diff --git |diff -[a-zA-Z]"),
    ("iI", r"index [0-9a-f]{6,}\.\.|Index: \S"),
    ("-+", r"(?:---|\+\+\+) (?:a/|b/|/dev/null|\S+\.\w+)|-----(?:BEGIN|END) PGP SIGNED MESSAGE-----"),
    ("ndsr", r"(?:new|deleted) file mode|similarity index|rename (?:from|to) "),
    ("F", r"From [0-9a-f]{40} |From: .*(?:@| at )\S+>?$"),  # a lone "From: Maya <m@x.org>" opens a quote
    ("0123456789[", r"\[?\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}|\[?\d{1,2}:\d{2}:\d{2}|\d+ files? changed"),
    ("0123456789", r"\d{1,3}(?:\.\d{1,3}){3} \S+ \S+ \["),
    ("[EWIDTFS", r"\[?(?:INFO|ERROR|WARN(?:ING)?|DEBUG|TRACE|FATAL|SEVERE)(?:\]|:|\s+[\[(-])"),
    ("[", r"\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) |\[ *\d+\.\d+\] "),  # "[  12.041] tx: ..." (dmesg)
    ("JFMASOND", r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2}(?:, \d{4})? \d{1,2}:\d{2}:\d{2}"),
    ("aCE.", r"at (?:[\w$<>]+\.)+[\w$<>]+\(|at$|Caused by: |Exception in thread |\.\.\. \d+ more$"),
    ("$%#C", r"[$%] \S|# ?[a-z][\w.-]* |#include\b|C:\\\S*>"),
    ("ipdcH", r"(?:import|package) [\w.]+(?:\.\*)?;$|(?:def|class) \w+.*:$|Hash: \w+$"),
    ("w[", r"www\.\S+$|\[(?:cid|image):[^\]]*\]\S*$|\[https?://|\[EXTERNAL\]$"),
    ("GS", r"Get Outlook for \w+|Sent from my \S.{0,30}$|Sent from (?:Mail|Yahoo|Outlook|Samsung|ProtonMail)\b"),
    ("WCE", r"(?:WARNING|CAUTION|EXTERNAL)(?: EMAIL)?: This (?:e-?mail|message) (?:originated|was sent|came) from"),
)
_NOISE_ANY = re.compile("|".join(rule for chars, rule in _NOISE_RULES if not chars))
_NOISE_STARTS = frozenset(c for chars, _ in _NOISE_RULES for c in chars)


@cache
def _noise_for(first: str) -> re.Pattern[str]:
    """The rules for lines starting with `first`, compiled on first use (66 patterns cost 25 ms at start-up)."""
    if first not in _NOISE_STARTS:
        return _NOISE_ANY
    return re.compile("|".join(rule for chars, rule in _NOISE_RULES if not chars or first in chars))


def is_noise(line: str) -> bool:
    """A stripped, non-empty line a program printed (a diff header, a log line, a prompt, a link)."""
    return _noise_for(line[0]).match(line) is not None


_CODE_CHARS = frozenset("(=)[]{}")
# In an indented line, signs of code rather than a wrapped list item: operators, calls, keywords.
# Prose has ";" inside a line and "(s)" after a word; code ends lines with ";" and calls "f(x)".
CODE_LIKE = re.compile(
    r"[={}]|;\s*$|->|::|\b\w+\((?!s\))[^)\s]*\)|^(?:if|for|while|let|def|fn|func|var|const|val|elif|return)\b.*[<>=!]"
)
_COLUMN_GAP = re.compile(r"[^.?!\s](?: {3,}|\t)")  # a wide gap, but not after a sentence


def in_statements(lines: list[str], i: int) -> bool:
    """A line ending in ";" next to another one: SQL or C statements, not prose wrapped at a ";"."""
    return any(0 <= j < len(lines) and lines[j].rstrip().endswith(";") for j in (i - 1, i + 1))


def is_code(raw: str, line: str) -> bool:
    """Indented blocks, brace and statement lines, markup, and column layouts."""
    if raw.startswith(("    ", "\t")) or line[-1] in "{}" or (line[0] == "<" and line[-1] == ">"):
        return True
    if raw.startswith("  ") and CODE_LIKE.search(line):
        return True  # "  let free = ring.free in": a code block indented by two
    if line[-1] == ";" and (not _CODE_CHARS.isdisjoint(line) or line.count(" ") < 3):
        return True  # "foo(bar);", "return x;", but not prose that happens to wrap at a ";"
    if "   " in line or "\t" in line:  # aligned columns: tables, ASCII art, signatures
        bullet = BULLET.match(line)  # but Outlook pads list markers: "1)      Text"
        if _COLUMN_GAP.search(line, bullet.end() if bullet else 0):
            return True
    return "|" in line and (line.count(" | ") > 1 or "||" in line)  # "a | b | c" rows
