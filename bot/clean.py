"""The clean stage: reduce one email body to the prose its author wrote.

Everything a summary must never quote goes: quoted replies, attributions,
forwarded and Outlook headers, signatures, list footers, greetings, thanks,
"+1" lines, code, logs and diffs. One pass over the lines, then a pass over
the tail for sign-offs; every regex is anchored and bounded, so a 10 MB body
cleans in linear time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CleanBody:
    text: str  # paragraphs separated by "\n\n", lines joined with single spaces
    support: bool  # the author's own text was only "+1" / Acked-by style agreement
    actions: tuple[str, ...]  # text after "ACTION:" / "Action:" / "TODO:"
    trailers: tuple[tuple[str, str], ...]  # e.g. ("Acked-by", "Name <addr>")


_MAX_SHORT = 300  # lines longer than this are prose; pricier patterns skip them
_CAP = r"[A-ZÀ-ÖØ-ÞĀ-Ž]"  # a capital letter, for names (ASCII + Latin-1/Extended-A)
_NAME = _CAP + r"[\w.'&-]*"

# Lines after which nothing is the author's: signature, quoted original, footers.
_CUT = re.compile(
    r"(?:--|_{20,}|-{5,} next part -{5,}|-{2,} ?(?:Original Message|Ursprüngliche Nachricht|Message d'origine"
    r"|Mensaje original) ?-{2,}|To unsubscribe(?:,| from| send| e-?mail| visit| click).*"
    r"|For additional commands, e-mail:.*"
    r"|You received this message because you are subscribed to the Google Groups.*"
    r"|[\w.-]+ mailing list(?: \S+(?: at |@)\S+)?|This is an automated message from.*"
    r"|CONFIDENTIALITY (?:NOTICE|MESSAGE).*|DISCLAIMER:?"
    r"|This (?:e-?mail|message)(?: message)? (?:and any attachments? )?(?:is|are|may"
    r" contain) (?:confidential|privileged).*)",
    re.IGNORECASE,
)
_FORWARD = re.compile(
    r"(?:-{2,} ?(?:Forwarded message|Weitergeleitete Nachricht|Message transféré) ?-{2,}"
    r"|Begin forwarded message:)",
    re.IGNORECASE,
)
_HEADER = re.compile(
    r"\*?(From|De|Von|发件人|Sent|Date|Gesendet|Envoyé|Datum|发送时间|To|An|À|收件人|Cc"
    r"|抄送|Subject|Betreff|Objet|主题|Reply-To)\*? ?[:：]",
    re.IGNORECASE,
)
_HEADER_FROM = frozenset({"from", "de", "von", "发件人"})
_HEADER_DATE = frozenset({"sent", "date", "gesendet", "envoyé", "datum", "发送时间"})
_HEADER_TO = frozenset({"to", "an", "à", "subject", "betreff", "objet", "收件人", "主题"})
# "From: Maya <maya@example.org>" alone on a line introduces a quote, like "wrote:".
_FROM_LINE = re.compile(r"From: .*(?:@| at )\S+>?")
# Footers and quoted originals glued onto a line by a broken HTML-to-text step.
_INLINE_CUT = re.compile(
    r"-{2,} ?Original Message ?-{2,}|To unsubscribe, e-mail:|To unsubscribe from the",
    re.IGNORECASE,
)
_HUNK = re.compile(r"@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_ATTRIBUTION = re.compile(
    r"(?:.*\b(?:wrote|writes|said|(?:a )?écrit|schrieb|escribió|scrisse|skrev|schreef)(?: on .*)?"
    r"|Am .* schrieb .*|Le .* a écrit.*) ?:",
    re.IGNORECASE,
)
_QUOTE = re.compile(r"[A-Za-z][\w.-]{0,14}> ")  # supercite: "Herbert> text"
# One alternation for every "this line is machine output" pattern.
_NOISE = re.compile(
    r"diff --git |diff -[a-zA-Z]|index [0-9a-f]{6,}\.\.|Index: \S|(?:---|\+\+\+)"
    r" (?:a/|b/|/dev/null|\S+\.\w+)|(?:new|deleted) file mode|similarity index"
    r"|rename (?:from|to) |\S+ +\| +\d+ ?[+-]*$|\d+ files? changed|From [0-9a-f]{40} "
    r"|\[?\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}|\[?\d{1,2}:\d{2}:\d{2}"
    r"|\[(?:INFO|ERROR|WARN(?:ING)?|DEBUG|TRACE|FATAL|SEVERE)\]"
    r"|(?:ERROR|WARN(?:ING)?|INFO|DEBUG|TRACE|FATAL|SEVERE)(?::|\s+[\[(-])"
    r"|\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) |(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov"
    r"|Dec) +\d{1,2} \d{2}:\d{2}:\d{2}|\d{1,3}(?:\.\d{1,3}){3} \S+ \S+ \["
    r"|at (?:[\w$<>]+\.)+[\w$<>]+\(|(?:[\w$]+\.){2,}(?:[A-Z][\w$<>]*$|[\w$<>]+\()|[\w$]+\.[a-z]{1,5}:\d+\)$|[\w.$]+\(.*\)$"
    r"|\[(?:cid|image):[^\]]*\]\S*$|\[https?://|Caused by: |\.\.\. \d+ more$|Exception in thread "
    r"|(?:[a-z]\w*\.)+[A-Z]\w*(?:Exception|Error)\b|[$%] \S|[\w.-]+@[\w.-]+:\S*[$#] "
    r"|C:\\\S*>|# ?[a-z][\w.-]* |#include\b|(?:import|package) [\w.]+(?:\.\*)?;$|(?:def|class) \w+.*:$"
    r"|-----(?:BEGIN|END) PGP SIGNED MESSAGE-----|Hash: \w+$"
    r"|(?:\[\d+\]:?\s*|[\w-]{1,12}(?: [\w-]{1,12})?:\s*|[Ss]ee:?\s+)?<?(?:https?|ftp)://\S+"
    r"(?: <\S+>)?$|www\.\S+$|at$"
    r"|Sent from my \S.{0,30}$|Sent from (?:Mail|Yahoo|Outlook|Samsung|ProtonMail)\b|Get Outlook for \w+|\[EXTERNAL\]$"
    r"|(?:WARNING|CAUTION|EXTERNAL)(?: EMAIL)?: This (?:e-?mail|message) (?:originated|was"
    r" sent|came) from outside.*"
)
_CONTACT = re.compile(r"\b(?:Tel|Tfno|Phone|Fax|Mobile|Cell|Mob)\.?\s*:\s*\+?\(?\d")
_LETTER = re.compile(r"[^\W\d_]")
_TRAILER = re.compile(
    r"(Signed-off-by|Acked-by|Reviewed-by|Tested-by|Reported-by|Suggested-by"
    r"|Co-developed-by):\s*(\S.*)",
    re.IGNORECASE,
)
_TRAILER_NAMES = {
    k.lower(): k for k in ("Signed-off-by", "Acked-by", "Reviewed-by", "Tested-by",
                          "Reported-by", "Suggested-by", "Co-developed-by")
}
_AGREEING_TRAILERS = frozenset({"Acked-by", "Reviewed-by", "Tested-by"})
_ACTION = re.compile(r"(?:ACTION|Action|TODO)(?: items?)?\s*:\s*(\S.*)")
_VOCATIVE = re.compile(_NAME + r"(?: " + _NAME + r"){0,2} ?[,:，]")
# One-word replies that look like a signed name ("Correct.") but are an answer.
_ANSWERS = frozenset(
    "yes no yep nope right correct exactly indeed true false done fixed sure agreed absolutely"
    " definitely confirmed nice awesome great cool interesting good perfect excellent".split()
)
_BULLET = re.compile(r"(?:[-*•+–]|\(?\d{1,2}[.)])\s+(?=\S)")
_THANKS = (r"(?:many |big )?(?:thanks|thank you|thx|ty|cheers)(?: (?:a lot|so much|very much"
           r"|again|in advance|so far|all|everyone|for (?:the|your|all)(?: \w+){1,3}))?")
_CLOSING = (r"(?i:" + _THANKS + r"|(?:with )?(?:best|kind|warm|many)? ?regards|best(?: wishes)?"
            r"|br|rgds|sincerely|yours|all the best|greetings|ciao|cordialement|take care|hth|enjoy"
            r"|(?:mit )?freundliche[nm]? grüßen?|viele grüße|gruß)")
# Whole lines that carry no content of their own; the group name is the kind.
_MARKER = re.compile(
    r"(?P<greeting>(?i:hi|hello|hey|dear|greetings|good (?:morning|afternoon|evening)"
    r"|hallo|bonjour|hola)(?:,? +(?:(?i:all|everyone|everybody|folks|guys|team|there"
    r"|colleagues|friends|devs|developers|people|group|list)|" + _NAME + r"))*[ ,!.:，]*)$"
    r"|(?P<support>(?i:(?:awesome|great|nice|cool|excellent)\b[^+]{0,20})?(?i:\+1(?: \((?:non-?|non )?binding\))?(?: from me)?|lgtm|looks good"
    r"(?: to me)?|sounds good(?: to me)?|agreed|i agree|ack|same here|works for me"
    r"|fine (?:with|by) me|ship it|no objections?|makes sense)(?i:[ ,.!]*(?:thanks|thx))?"
    r"[ !.,]*)$"
    r"|(?P<close>[-~]?" + _CLOSING + r"(?:[ ,.!]+" + _CLOSING + r")*(?:[ ,.!-]+[-~]?" + _NAME
    + r"(?: " + _NAME + r"){0,2})?[ ,.!]*)$"
)


@dataclass(slots=True)
class _Scan:
    """What one pass over the lines found; `entries` is (kind, text) per line."""

    entries: list[tuple[str, str]]
    actions: list[str]
    trailers: list[tuple[str, str]]
    agreed: bool = False
    started: bool = False  # some prose was already kept


def _is_header_block(lines: list[str], i: int) -> bool:
    """True if line i starts a 'From: / Sent: / To:' block quoting an old mail."""
    fields = set()
    for line in lines[i : i + 7]:
        m = _HEADER.match(line.strip())
        if m:
            fields.add(m.group(1).lower())
    return bool(fields & _HEADER_FROM and fields & _HEADER_DATE and fields & _HEADER_TO)


def _is_code(raw: str, line: str) -> bool:
    """Indented blocks, brace/semicolon lines, markup and column layouts."""
    if raw.startswith(("    ", "\t")) or line.endswith(("{", "}")):
        return True
    if line.endswith(";") and (any(c in line for c in "(=)[]{}") or line.count(" ") < 3):
        return True
    if line.startswith("<") and line.endswith(">"):
        return True
    bullet = _BULLET.match(line)  # Outlook pads list markers: "1)      Text"
    text = line[bullet.end() :] if bullet else line
    # Aligned columns and "a | b | c" rows: tables, ASCII-art and one-line signatures.
    return "   " in text or "\t" in text or text.count(" | ") > 1 or "||" in text


def _is_lone_token(line: str) -> bool:
    token = line.rstrip(".,!?:;")
    return " " not in token and any(c in token for c in "/\\=%_$#@.()[]{}<>|&")


def _next(lines: list[str], i: int) -> str:
    return lines[i + 1].strip() if i + 1 < len(lines) else ""


def _skip_blocks(lines: list[str]) -> Iterator[tuple[int, str]]:
    """Yield (index, line) for lines outside hunks, fences, tracebacks and PGP blocks."""
    hunk = [0, 0]  # old and new lines still due in the current diff hunk
    block = ""  # the kind of block being skipped, or ""
    for i, raw in enumerate(lines):
        line = raw.strip()
        if hunk[0] > 0 or hunk[1] > 0:
            mark = raw[:1]
            if mark in ("+", "-", " ", "\\", ""):
                hunk[0] -= mark in ("-", " ", "")  # "\\ No newline" counts for neither
                hunk[1] -= mark in ("+", " ", "")
                continue
            hunk = [0, 0]  # a prose line ends a hunk whose counts were wrong
        if block == "fence":
            block = "" if line.startswith("```") else block
        elif block == "pgp":
            block = "" if line.startswith("-----END PGP") else block
        elif block == "trace" and not raw[:1].isspace():
            block = ""  # this line is the exception itself: drop it too
        elif block == "":
            m = _HUNK.match(line)
            if m:
                hunk = [int(m.group(1) or 1), int(m.group(2) or 1)]
            elif line.startswith("```"):
                block = "fence"
            elif line.startswith("-----BEGIN PGP SIGNATURE"):
                block = "pgp"
            elif line.startswith("Traceback (most recent call last)"):
                block = "trace"
            else:
                yield i, raw
                continue
        yield i, ""  # a skipped line still separates paragraphs


def _scan(lines: list[str]) -> _Scan:
    scan = _Scan([], [], [])
    out = scan.entries
    forward = False  # inside the header lines of a forwarded message
    for i, raw in _skip_blocks(lines):
        line = raw.strip()
        short = len(line) <= _MAX_SHORT
        if forward and line and short and _HEADER.match(line):
            continue
        forward = forward and not line
        if not line or line[0] == ">" or (short and _QUOTE.match(line)):
            out.append(("break", ""))
        elif short and (_CUT.fullmatch(line) or (_HEADER.match(line) and _is_header_block(lines, i))):
            break
        elif ("riginal" in line or "nsubscribe" in line) and (m := _INLINE_CUT.search(line)):
            if line[: m.start()].strip():
                _classify(scan, line[: m.start()].strip(), short)
            break
        elif short and _FORWARD.fullmatch(line):
            forward = True
        elif short and line.endswith(":") and _ATTRIBUTION.fullmatch(line):
            _drop_wrapped_attribution(out, lines, i)
        elif short and _FROM_LINE.fullmatch(line):
            out.append(("break", ""))
        elif _is_code(raw, line) or _NOISE.match(line) or short and _CONTACT.search(line):
            out.append(("break", ""))
        elif _is_lone_token(line) and (not out or out[-1][0] not in ("prose", "bullet")) and not _next(lines, i):
            out.append(("break", ""))  # a path or identifier alone, not a wrapped line's end
        else:
            _classify(scan, line, short)
    return scan


def _drop_wrapped_attribution(out: list[tuple[str, str]], lines: list[str], i: int) -> None:
    """'On Tue, 5 Mar 2024, Maya' + 'wrote:' on the next line: drop the first half too."""
    prev = lines[i - 1].strip() if i else ""
    if out and out[-1] == ("prose", prev) and prev.startswith(("On ", "Le ", "Am ")):
        out.pop()
    out.append(("break", ""))


def _classify(scan: _Scan, line: str, short: bool) -> None:
    """File one line of the author's own text as prose, bullet, marker or trailer."""
    trailer = _TRAILER.match(line) if short else None
    if trailer:
        name = _TRAILER_NAMES[trailer.group(1).lower()]
        scan.trailers.append((name, trailer.group(2).strip()))
        scan.agreed |= name in _AGREEING_TRAILERS
        scan.entries.append(("break", ""))
        return
    marker = _MARKER.match(line) if len(line) <= 80 else None
    if marker:
        kind = marker.lastgroup or "greeting"
        scan.agreed |= kind == "support"
        scan.entries.append((kind if kind != "greeting" else "break", ""))
        return
    if not _LETTER.search(line):  # separators, bare numbers, table cells
        sep = len(line) > 1 and set(line) <= set("-_=*#~+.")
        scan.entries.append(("sep" if sep else "break", ""))
        return
    if not scan.started and _VOCATIVE.fullmatch(line):  # "Maya," opening the mail
        scan.entries.append(("break", ""))
        return
    scan.started = True
    bullet = _BULLET.match(line)
    body = line[bullet.end() :] if bullet else line
    action = _ACTION.match(body)
    if action:
        scan.actions.append(action.group(1).strip())
    scan.entries.append(("bullet" if bullet else "prose", body))


def _is_namey(text: str, strict: bool = False) -> bool:
    """Does this line look like part of a signature (a name, title, company)?"""
    words = text.split()
    if strict and len(words) == 1 and words[0].strip(".!").lower() in _ANSWERS:
        return False
    if not words or len(text) > 80 or len(words) > (3 if strict else 10):
        return False
    if text.endswith(("?", ":", ",")) or (text.endswith(".") and len(words) > 4):
        return False
    # "-chris", "~t~" and "--jh" sign off in lower case; a dash marks them as names.
    caps = sum(1 for w in words if w[0] in "-~" or w.lstrip("(")[:1].isupper() or "@" in w)
    return caps == len(words) if strict else 2 * caps >= len(words)


def _trim_tail(entries: list[tuple[str, str]]) -> None:
    """Peel sign-offs and signature blocks off the end until neither is left."""
    # Runs of dropped lines collapse to one break, so each peel looks at a few entries.
    entries[:] = [e for i, e in enumerate(entries) if e[1] or not i or entries[i - 1] != e]
    while _drop_signoff(entries) or _drop_signature(entries):
        pass


def _drop_signoff(entries: list[tuple[str, str]]) -> bool:
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


def _drop_signature(entries: list[tuple[str, str]]) -> bool:
    """A last paragraph that opens with a bare name ('Maya Chen' + title lines)."""
    while entries and entries[-1][0] in ("break", "close", "sep", "support"):
        entries.pop()
    start = len(entries)
    while start and entries[start - 1][0] == "prose" and len(entries) - start < 7:
        start -= 1
    if start and entries[start - 1][0] == "bullet":  # "- Maya" signs off like "-Maya"
        start -= 1
    tail = [text for _, text in entries[start:]]
    if not tail or (start and entries[start - 1][0] == "prose"):  # over six lines
        return False
    if not _is_namey(tail[0], strict=True) or not all(_is_namey(t) for t in tail[1:]):
        return False
    kinds = ("prose", "bullet", "support")
    before = next((entries[i][0] for i in range(start - 1, -1, -1) if entries[i][0] in kinds), "")
    after = next((entries[i][0] for i in range(start - 1, -1, -1) if entries[i][0] != "break"), "")
    if not before or (after == "bullet" and entries[start][0] == "bullet"):
        return False  # the author's only words, or the last item of a list
    del entries[start:]
    return True


def _paragraphs(entries: list[tuple[str, str]]) -> str:
    paragraphs: list[list[str]] = []
    current: list[str] | None = None
    for kind, text in entries:
        if kind == "bullet" or (kind == "prose" and current is None):
            current = [text]
            paragraphs.append(current)
        elif kind == "prose" and current is not None:
            current.append(text)
        else:
            current = None
    return "\n\n".join(" ".join(" ".join(p).split()) for p in paragraphs)


def clean_body(text: str) -> CleanBody:
    """Return only what the author wrote in this message, plus what it signals."""
    scan = _scan(text.splitlines())
    _trim_tail(scan.entries)
    prose = _paragraphs(scan.entries)
    return CleanBody(
        text=prose,
        support=scan.agreed and not prose,
        actions=tuple(scan.actions),
        trailers=tuple(scan.trailers),
    )
