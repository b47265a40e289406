"""The clean stage: reduce one email body to the prose its author wrote.

Everything a summary must never quote goes: quoted replies, attributions, forwarded
and Outlook headers, signatures, list footers, greetings, thanks, "+1" lines, code,
logs and diffs. One pass files each line, then a pass peels sign-offs off the end.
Regexes are compiled once, anchored, and free of nested repeats, and the costlier ones
only see short lines, so a 10 MB body cleans in linear time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CleanBody:
    text: str  # paragraphs separated by "\n\n", lines joined with single spaces
    support: bool  # the author's own text was only "+1" / Acked-by style agreement
    actions: tuple[str, ...]  # text after "ACTION:" / "Action:" / "TODO:"
    trailers: tuple[tuple[str, str], ...]  # e.g. ("Acked-by", "Name <addr>")


_SHORT = 300  # longer lines are prose or data; the costlier patterns skip them
_NAME = r"[A-ZÀ-ÖØ-ÞĀ-Ž][\w.'&-]*"  # a capitalised word (ASCII, Latin-1, Latin Extended-A)

# Lines after which nothing is the author's: signature, quoted original, list footers.
_CUT = re.compile(
    r"--|_{20,}|-{5,} next part -{5,}|-{2,} ?(?:Original Message|Ursprüngliche Nachricht"
    r"|Message d'origine|Mensaje original) ?-{2,}|To unsubscribe(?:,| from| send| e-?mail| visit| click).*"
    r"|For additional commands, e-mail:.*|You received this message because you are subscribed to.*"
    r"|[\w.-]+ mailing list(?: \S+(?: at |@)\S+)?|This is an automated message from.*"
    r"|CONFIDENTIALITY (?:NOTICE|MESSAGE).*|DISCLAIMER:?|This (?:e-?mail|message)(?: message)?"
    r" (?:and any attachments? )?(?:is|are|may contain) (?:confidential|privileged).*",
    re.IGNORECASE,
)
_CUT_FIRST = "-_TtFfYyCcDd"  # every _CUT line starts with one of these, or is "<list> mailing list"
# The same markers glued into a line by a broken HTML-to-text conversion.
_INLINE_CUT = re.compile(r"-{2,} ?Original Message ?-{2,}|To unsubscribe(?:, e-mail:| from the)", re.I)
_FORWARD = re.compile(
    r"-{2,} ?(?:Forwarded message|Weitergeleitete Nachricht|Message transféré) ?-{2,}|Begin forwarded message:",
    re.IGNORECASE,
)
_HEADER = re.compile(
    r"\*?(From|De|Von|发件人|Sent|Date|Gesendet|Envoyé|Datum|发送时间|To|An|À|收件人|Cc|抄送"
    r"|Subject|Betreff|Objet|主题|Reply-To)\*? ?[:：]",
    re.IGNORECASE,
)
_HEADER_ROLE = {"de": "from", "von": "from", "发件人": "from", "date": "sent", "gesendet": "sent"}
_HEADER_ROLE |= {"envoyé": "sent", "datum": "sent", "发送时间": "sent", "subject": "to", "an": "to"}
_HEADER_ROLE |= {"à": "to", "收件人": "to", "betreff": "to", "objet": "to", "主题": "to"}
_FROM_LINE = re.compile(r"From: .*(?:@| at )\S+>?$")  # alone, it introduces a quote like "wrote:"
_ATTRIBUTION = re.compile(
    r"(?:.*\b(?:wrote|writes|said|(?:a )?écrit|schrieb|escribió|scrisse|skrev|schreef)(?: on .*)?"
    r"|Am .* schrieb .*|Le .* a écrit.*) ?:",
    re.IGNORECASE,
)
_SUPERCITE = re.compile(r"[A-Za-z][\w.-]{0,14}> ")  # "Herbert> quoted text"
_HUNK = re.compile(r"@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
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
    ("F", r"From [0-9a-f]{40} "),
    ("0123456789[", r"\[?\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}|\[?\d{1,2}:\d{2}:\d{2}|\d+ files? changed"),
    ("0123456789", r"\d{1,3}(?:\.\d{1,3}){3} \S+ \S+ \["),
    ("[EWIDTFS", r"\[?(?:INFO|ERROR|WARN(?:ING)?|DEBUG|TRACE|FATAL|SEVERE)(?:\]|:|\s+[\[(-])"),
    ("[", r"\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) "),
    ("JFMASOND", r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2}(?:, \d{4})? \d{1,2}:\d{2}:\d{2}"),
    ("aCE.", r"at (?:[\w$<>]+\.)+[\w$<>]+\(|at$|Caused by: |Exception in thread |\.\.\. \d+ more$"),
    ("$%#C", r"[$%] \S|# ?[a-z][\w.-]* |#include\b|C:\\\S*>"),
    ("ipdcH", r"(?:import|package) [\w.]+(?:\.\*)?;$|(?:def|class) \w+.*:$|Hash: \w+$"),
    ("w[", r"www\.\S+$|\[(?:cid|image):[^\]]*\]\S*$|\[https?://|\[EXTERNAL\]$"),
    ("GS", r"Get Outlook for \w+|Sent from my \S.{0,30}$|Sent from (?:Mail|Yahoo|Outlook|Samsung|ProtonMail)\b"),
    ("WCE", r"(?:WARNING|CAUTION|EXTERNAL)(?: EMAIL)?: This (?:e-?mail|message) (?:originated|was sent|came) from"),
)
_NOISE_ANY = re.compile("|".join(rule for chars, rule in _NOISE_RULES if not chars))
_NOISE = {
    c: re.compile("|".join(rule for chars, rule in _NOISE_RULES if not chars or c in chars))
    for chars, _ in _NOISE_RULES
    for c in chars
}
_CONTACT = re.compile(r"\b(?:Tel|Tfno|Phone|Fax|Mobile|Cell|Mob)\.?\s*:\s*\+?\(?\d")
_LETTER = re.compile(r"[^\W\d_]")
_TRAILER_NAMES = ("Signed-off-by", "Acked-by", "Reviewed-by", "Tested-by", "Reported-by", "Suggested-by")
_TRAILER = re.compile(rf"({'|'.join(_TRAILER_NAMES)}|Co-developed-by):\s*(\S.*)", re.IGNORECASE)
_ACTION = re.compile(r"(?:ACTION|Action|TODO)(?: items?)?\s*:\s*(\S.*)")
_BULLET = re.compile(r"(?:[-*•+–]|\(?\d{1,2}[.)])\s+(?=\S)")
_VOCATIVE = re.compile(_NAME + r"(?: " + _NAME + r"){0,2} ?[,:，]")  # "Maya," opening the mail
# One-word replies that look like a signed name ("Correct.") but are an answer.
_ANSWERS = frozenset(
    {"yes", "no", "yep", "nope", "right", "correct", "exactly", "indeed", "true", "false", "done", "fixed", "sure"}
    | {"agreed", "absolutely", "definitely", "confirmed", "nice", "awesome", "great", "cool", "interesting", "good"}
    | {"perfect", "excellent"}
)
_THANKS = (
    r"(?:many |big )?(?:thanks|thank you|thx|ty|cheers)(?: (?:a lot|so much|very much|again|in advance"
    r"|so far|all|everyone|for (?:the|your|all)(?: \w+){1,3}))?"
)
_CLOSING = (
    r"(?i:" + _THANKS + r"|(?:with )?(?:best|kind|warm|many)? ?regards|best(?: wishes)?|br|rgds|sincerely"
    r"|yours|all the best|greetings|ciao|cordialement|take care|hth|enjoy|(?:mit )?freundliche[nm]? grüßen?"
    r"|viele grüße|gruß)"
)
# Whole lines that say nothing of their own; the group that matched names the kind.
_MARKER = re.compile(
    r"(?P<greeting>(?i:hi|hello|hey|dear|greetings|good (?:morning|afternoon|evening)|hallo|bonjour|hola)"
    r"(?:,? +(?:(?i:all|everyone|everybody|folks|guys|team|there|colleagues|friends|devs|developers|people"
    r"|group|list|and)|" + _NAME + r"))*[ ,!.:，*]*)$"
    r"|(?P<support>(?i:(?:awesome|great|nice|cool|excellent)\b[^+]{0,20})?(?i:\+1(?: \((?:non-?|non )?binding\))?"
    r"(?: from me)?|lgtm|looks good(?: to me)?|sounds good(?: to me)?|agreed|i agree|ack|same here"
    r"|works for me|fine (?:with|by) me|ship it|no objections?|makes sense)(?i:[ ,.!]*(?:thanks|thx))?[ !.,]*)$"
    rf"|(?P<close>[-~]?{_CLOSING}(?:[ ,.!]+{_CLOSING})*(?: and)?(?:[ ,.!-]+[-~]?{_NAME}(?: {_NAME}){{0,2}})?[ ,.!]*)$"
)

Entry = tuple[str, str]  # (kind, text); kind: prose, bullet, break, close, sep or support


@dataclass(slots=True)
class _Scan:
    """What the pass over the lines found."""

    entries: list[Entry] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    trailers: list[tuple[str, str]] = field(default_factory=list)
    agreed: bool = False  # a "+1" line or an Acked-by trailer
    started: bool = False  # some prose was kept already


def clean_body(text: str) -> CleanBody:
    """Return only what the author wrote in this message, plus what it signals."""
    scan = _scan(text.splitlines())
    _trim_tail(scan.entries)
    prose = _paragraphs(scan.entries)
    return CleanBody(prose, scan.agreed and not prose, tuple(scan.actions), tuple(scan.trailers))


def _scan(lines: list[str]) -> _Scan:
    scan = _Scan()
    out = scan.entries
    forward = False  # among the header lines of a forwarded message
    # Cheap substring tests guard the costlier patterns: most lines are plain prose.
    for i, raw in _outside_blocks(lines):
        line = raw.strip()
        if forward and line and _is_header(line):
            continue
        forward = forward and not line
        short = len(line) <= _SHORT
        if not line or line[0] == ">" or ("> " in line[:17] and _SUPERCITE.match(line)):
            out.append(("break", ""))
        elif (short and (line[0] in _CUT_FIRST or "ailing" in line) and _CUT.fullmatch(line)) or (
            _is_header(line) and _is_header_block(lines, i)
        ):
            _drop_footer_intro(out)
            break
        elif ("riginal" in line or "nsubscribe" in line) and (m := _INLINE_CUT.search(line)):
            if line[: m.start()].strip():
                _classify(scan, line[: m.start()].strip(), short)
            break
        elif line[0] in "-B" and short and _FORWARD.fullmatch(line):
            forward = True
        elif line[-1] == ":" and short and _ATTRIBUTION.fullmatch(line):
            _drop_wrapped_attribution(out, lines[i - 1].strip() if i else "")
        elif _is_code(raw, line) or (":" in line and short and (_FROM_LINE.match(line) or _CONTACT.search(line))):
            out.append(("break", ""))
        elif _NOISE.get(line[0], _NOISE_ANY).match(line) or (
            " " not in line and _is_lone_token(line) and (not out or out[-1][0] not in ("prose", "bullet"))
        ):
            out.append(("break", ""))  # a lone path or identifier, unless it ends a wrapped line
        else:
            _classify(scan, line, short)
    return scan


def _is_header(line: str) -> bool:
    return (":" in line[:16] or "：" in line[:16]) and _HEADER.match(line) is not None


def _outside_blocks(lines: list[str]) -> Iterator[tuple[int, str]]:
    """Yield (index, line), with lines of diff hunks, fences, tracebacks and PGP signatures as ""."""
    old = new = 0  # lines still due in the current diff hunk, from its "@@ -a,b +c,d @@"
    block = ""  # "fence", "pgp" or "trace" while inside one
    for i, raw in enumerate(lines):
        mark, line = raw[:1], raw.strip()
        if old > 0 or new > 0:
            if mark in ("+", "-", " ", "\\", ""):
                old -= mark in ("-", " ", "")  # "\ No newline at end of file" counts for neither
                new -= mark in ("+", " ", "")
                yield i, ""
                continue
            old = new = 0  # a prose line ends a hunk whose counts were wrong
        if (block == "fence" and line.startswith("```")) or (block == "pgp" and line.startswith("-----END PGP")):
            block = ""
        elif block == "trace" and not mark.isspace():
            block = ""  # the exception line closing the traceback goes too
        elif not block:
            if m := _HUNK.match(line):
                old, new = int(m.group(1) or 1), int(m.group(2) or 1)
            elif line.startswith(("```", "-----BEGIN PGP SIGNATURE", "Traceback (most recent call last)")):
                block = {"`": "fence", "-": "pgp", "T": "trace"}[line[0]]
            else:
                yield i, raw
                continue
        yield i, ""  # a skipped line still separates paragraphs


def _is_header_block(lines: list[str], i: int) -> bool:
    """Does line i open a 'From: / Sent: / To:' block, i.e. an Outlook-quoted mail?"""
    roles = set()
    for line in lines[i : i + 7]:
        if m := _HEADER.match(line.strip()):
            roles.add(_HEADER_ROLE.get(m.group(1).lower(), m.group(1).lower()))
    return {"from", "sent", "to"} <= roles


def _is_code(raw: str, line: str) -> bool:
    """Indented blocks, brace and statement lines, markup, and column layouts."""
    if raw.startswith(("    ", "\t")) or line[-1] in "{}" or (line[0] == "<" and line[-1] == ">"):
        return True
    if line[-1] == ";" and (any(c in line for c in "(=)[]{}") or line.count(" ") < 3):
        return True  # "foo(bar);", "return x;", but not prose that happens to wrap at a ";"
    if "   " in line or "\t" in line:  # aligned columns: tables, ASCII art, signatures
        bullet = _BULLET.match(line)  # but Outlook pads list markers: "1)      Text"
        text = line[bullet.end() :] if bullet else line
        if "   " in text or "\t" in text:
            return True
    return "|" in line and (line.count(" | ") > 1 or "||" in line)  # "a | b | c" rows


def _is_lone_token(line: str) -> bool:
    token = line.rstrip(".,!?:;")
    return " " not in token and any(c in token for c in "/\\=%_$#@.()[]{}<>|&")


def _drop_footer_intro(out: list[Entry]) -> None:
    """A footer often opens with a rule and a line or two ('The official forum of...')."""
    for j in range(len(out) - 1, max(len(out) - 6, -1), -1):
        if out[j][0] == "sep":
            del out[j:]
            return


def _drop_wrapped_attribution(out: list[Entry], previous: str) -> None:
    """'On Tue, 5 Mar 2024, Maya' + 'wrote:' on the next line: drop the first half too."""
    if out and out[-1] == ("prose", previous) and previous.startswith(("On ", "Le ", "Am ")):
        out.pop()
    out.append(("break", ""))


def _classify(scan: _Scan, line: str, short: bool) -> None:
    """File one line of the author's own text as prose, bullet, marker or trailer."""
    if ":" in line[:24] and (trailer := _TRAILER.match(line)):
        name = next((n for n in _TRAILER_NAMES if n.lower() == trailer.group(1).lower()), "Co-developed-by")
        scan.trailers.append((name, trailer.group(2).strip()))
        scan.agreed |= name in ("Acked-by", "Reviewed-by", "Tested-by")
        scan.entries.append(("break", ""))
    elif len(line) <= 60 and (marker := _MARKER.match(line)):
        kind = marker.lastgroup or "greeting"
        scan.agreed |= kind == "support"
        scan.entries.append((kind if kind != "greeting" else "break", ""))
    elif not line[0].isalpha() and not _LETTER.search(line):  # rules, bare numbers, table cells
        scan.entries.append(("sep" if len(line) > 1 and set(line) <= set("-_=*#~+.") else "break", ""))
    elif not scan.started and _VOCATIVE.fullmatch(line):
        scan.entries.append(("break", ""))
    else:
        scan.started = True
        bullet = _BULLET.match(line) if line[0] in "-*•+–(0123456789" else None
        body = line[bullet.end() :] if bullet else line
        if ":" in body[:14] and (action := _ACTION.match(body)):
            scan.actions.append(action.group(1).strip())
        scan.entries.append(("bullet" if bullet else "prose", body))


def _trim_tail(entries: list[Entry]) -> None:
    """Peel sign-offs and signature blocks off the end until neither is left."""
    # Runs of dropped lines collapse to one break, so each peel looks at a few entries.
    entries[:] = [e for i, e in enumerate(entries) if e[1] or not i or entries[i - 1] != e]
    while _drop_signoff(entries) or _drop_signature(entries):
        pass


def _drop_signoff(entries: list[Entry]) -> bool:
    """'Thanks,' or a '___' rule followed by at most six name-like lines: cut there."""
    names, j = 0, len(entries) - 1
    while j >= 0 and entries[j][0] in ("break", "prose", "bullet"):
        if entries[j][0] != "break":
            if names == 6 or not _is_namey(entries[j][1]):
                return False
            names += 1
        j -= 1
    if j < 0 or entries[j][0] not in ("close", "sep"):
        return False
    del entries[j:]
    return True


def _drop_signature(entries: list[Entry]) -> bool:
    """A last paragraph that opens with a bare name ('Maya Chen' + title lines) or is a motto."""
    while entries and entries[-1][0] in ("break", "close", "sep", "support"):
        entries.pop()
    start = len(entries)
    while start and entries[start - 1][0] == "prose" and len(entries) - start < 9:
        start -= 1
    if start and entries[start - 1][0] == "bullet":  # "- Maya" signs off like "-Maya"
        start -= 1
    tail = [text for _, text in entries[start:]]
    if not tail or (start and entries[start - 1][0] == "prose"):  # over eight lines: prose
        return False
    signed = _is_namey(tail[0], strict=True) and all(_is_namey(t) for t in tail[1:])
    if not signed and not _is_motto(" ".join(tail)):
        return False
    earlier = (entries[i][0] for i in range(start - 1, -1, -1) if entries[i][0] != "break")
    previous = next(earlier, "")
    if previous == "bullet" and entries[start][0] == "bullet":
        return False  # the last item of a list
    if previous not in ("prose", "bullet", "support") and not any(k in ("prose", "support") for k in earlier):
        return False  # these are the author's only words: keep them
    del entries[start:]
    return True


def _is_namey(text: str, strict: bool = False) -> bool:
    """Could this line belong to a signature (a name, title, company, address)?"""
    words = text.split()
    if not words or len(text) > 80 or len(words) > (4 if strict else 10):
        return False
    if strict and len(words) == 1 and words[0].strip(".!").lower() in _ANSWERS:
        return False
    if text.endswith(("?", ":", ",")) or (text.endswith(".") and len(words) > 4):
        return False
    # Numbers and symbols ("6-600", "#39") say nothing; "-chris", "~t~" and "@maya" are names.
    alpha = [w for w in words if w[0] in "-~@" or w.lstrip("(\"'")[:1].isalpha()]
    caps = sum(1 for w in alpha if w[0] in "-~" or w.lstrip("(\"'")[:1].isupper() or "@" in w)
    if strict:  # one lower-case word may pass: "Jan van Berg", "Maya Chen (she/her)"
        return bool(alpha) and caps >= len(alpha) - (len(alpha) > 2)
    return 2 * caps >= len(alpha)


def _is_motto(text: str) -> bool:
    """A quotation closing the mail, perhaps attributed: a signature's motto."""
    end = max(text.rfind('"'), text.rfind("”"))
    return text[:1] in '"“' and end > 0 and len(text[end + 1 :].split()) <= 6


def _paragraphs(entries: list[Entry]) -> str:
    paragraphs: list[list[str]] = []
    open_paragraph = False
    for kind, text in entries:
        if kind == "prose" and open_paragraph:
            paragraphs[-1].append(text)
        elif kind in ("prose", "bullet"):
            paragraphs.append([text])  # a bullet always opens its own paragraph
        open_paragraph = kind in ("prose", "bullet")
    return "\n\n".join(" ".join(" ".join(p).split()) for p in paragraphs)
