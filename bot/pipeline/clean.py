"""The clean stage: reduce one email body to the prose its author wrote.

Everything a summary must never quote goes: quoted replies, attributions, forwarded
and Outlook headers, signatures, list footers, greetings, thanks, "+1" lines, code,
logs and diffs. One pass files each line, then `bot.pipeline.signoff` peels sign-offs off the
end. A "+1" (or "-1") opening the author's text is kept as the message's vote.
Regexes are compiled once, anchored, and free of nested repeats; cheap substring and
first-character tests keep most lines away from them. The work is linear, a few µs a
line, so a 10 MB body cleans in well under a second.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from bot.pipeline.machine import BULLET, CODE_LIKE, in_statements, is_code, is_noise
from bot.pipeline.signoff import Entry, trim_tail


@dataclass(frozen=True, slots=True)
class CleanBody:
    text: str  # paragraphs separated by "\n\n", lines joined with single spaces
    support: bool  # the author's own text was only "+1" / Acked-by style agreement
    actions: tuple[str, ...]  # text after "ACTION:" / "Action:" / "TODO:"
    trailers: tuple[tuple[str, str], ...]  # e.g. ("Acked-by", "Name <addr>")
    vote: str = ""  # "+" or "-": the author's own text opened with "+1" (or "LGTM") or "-1"


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
# Every _CUT line starts so (or is "<list> mailing list"): a cheap test before the regex.
_CUT_START = ("-", "_", "To ", "For ", "You ", "This ", "CONFID", "Confid", "DISCLAIM", "Disclaim")
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
_ATTRIBUTION = re.compile(
    r"(?:.*\b(?:wrote|writes|said|(?:a )?écrit|schrieb|escribió|scrisse|skrev|schreef)(?: on .*)?"
    r"|Am .* schrieb .*|Le .* a écrit.*) ?:",
    re.IGNORECASE,
)
_SUPERCITE = re.compile(r"[A-Za-z][\w.-]{0,14}> ")  # "Herbert> quoted text"
_HUNK = re.compile(r"@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_OPENERS = ("@@ -", "```", "-----BEGIN PGP SIGNATURE", "Traceback (most recent call last)")
_BLOCK_OPENER = re.compile(r"^[ \t]*(?:@@ -|```|-----BEGIN PGP SIGNATURE|Traceback \(most recent call last\))", re.M)
_TECHNICAL = frozenset("/\\=%_$#@.()[]{}<>|&")  # a lone token with one of these is a path or identifier
# "EVS<https://...>": a link target glued to its text by an HTML-to-text conversion.
_GLUED_LINK = re.compile(r"(?<=[^\s(\[])<(?:https?|mailto):[^\s>]*>")
_VOTE = re.compile(r"[+-]1(?![\d.])")
# A reference the author listed at the end, not a quoted one ("[2] https://...", "[2]: <https://...>", the URL
# maybe wrapped to the next line), and the marker in the text that points to it ("reviewed[2]").
_REFERENCE = re.compile(
    r"^[ \t]*\[(\d{1,2})\]:?(?:[ \t]+|[ \t]*\n[ \t]*)<?((?:https?|ftp)://[^\s<>()\[\]\"'`]+?)>?[.,;]?[ \t]*$", re.M
)
_REF_MARKER = re.compile(r"\[(\d{1,2})\](?!\()")
_CONTACT = re.compile(r"\b(?:Tel|Tfno|Phone|Fax|Mobile|Cell|Mob)\.?\s*:\s*\+?\(?\d")
_LETTER = re.compile(r"[^\W\d_]")
_TRAILER_NAMES = ("Signed-off-by", "Acked-by", "Reviewed-by", "Tested-by", "Reported-by", "Suggested-by")
_TRAILER = re.compile(rf"({'|'.join(_TRAILER_NAMES)}|Co-developed-by):\s*(\S.*)", re.IGNORECASE)
_ACTION = re.compile(r"(?:ACTION|Action|TODO)(?: items?)?\s*:\s*(\S.*)")
_VOCATIVE = re.compile(_NAME + r"(?: " + _NAME + r"){0,2} ?[,，]")  # "Maya," opening the mail
_THANKS = (
    r"(?:many |big )?(?:thanks|thank you|thx|ty|cheers)(?: (?:a lot|so much|very much|again|in advance"
    r"|so far|all|everyone|for (?:the|your|all)(?: \w+){1,3}))?"
)
_CLOSING = (
    r"(?i:" + _THANKS + r"|(?:with )?(?:best|kind|warm|many)? ?regards|best(?: wishes)?|br|rgds|sincerely"
    r"|yours|all the best|greetings|ciao|cordialement|amicalement|saludos|groeten|take care|hth|enjoy"
    r"|(?:mit )?freundliche[nm]? grüßen?|viele grüße|gruß)"
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

# Every _MARKER line starts with one of these words: a set lookup spares most lines the regex.
_MARKER_WORDS = frozenset(
    {"hi", "hello", "hey", "dear", "greetings", "good", "hallo", "bonjour", "hola", "awesome", "great", "nice"}
    | {"cool", "excellent", "+1", "lgtm", "looks", "sounds", "agreed", "i", "ack", "same", "works", "fine", "ship"}
    | {"no", "makes", "many", "big", "thanks", "thank", "thx", "ty", "cheers", "with", "best", "kind", "warm"}
    | {"regards", "br", "rgds", "sincerely", "yours", "all", "ciao", "cordialement", "take", "hth", "enjoy", "mit"}
    | {"freundliche", "freundlichen", "viele", "gruß", "amicalement", "saludos", "groeten"}
)



@dataclass(slots=True)
class _Scan:
    """What the pass over the lines found."""

    entries: list[Entry] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    trailers: list[tuple[str, str]] = field(default_factory=list)
    agreed: bool = False  # a "+1" line or an Acked-by trailer
    started: bool = False  # some prose was kept already
    vote: str = ""  # "+" or "-", from the first "+1"/"-1" of the author's own text


def clean_body(text: str) -> CleanBody:
    """Return only what the author wrote in this message, plus what it signals."""
    scan = _scan(text.splitlines(), has_blocks=_BLOCK_OPENER.search(text) is not None)
    trim_tail(scan.entries)
    prose = _paragraphs(scan.entries)
    if "[" in prose and "://" in text:
        prose = _linked_markers(prose, text)
    return CleanBody(prose, scan.agreed and not prose, tuple(scan.actions), tuple(scan.trailers), scan.vote)


def _scan(lines: list[str], has_blocks: bool) -> _Scan:
    """File every line, in order, until a line after which nothing is the author's."""
    scan = _Scan()
    out = scan.entries
    forward = False  # among the header lines of a forwarded message
    code = False  # inside an indented block that showed code
    tail = False  # the line before was dropped as code or machine output: a lower-case line goes on with it
    # Cheap substring tests guard the costlier patterns: most lines are plain prose.
    for i, raw in _outside_blocks(lines) if has_blocks else enumerate(lines):
        line = raw.strip()
        indented = raw[:1].isspace()
        code = code and indented and bool(line)
        if forward and line and _HEADER.match(line):
            continue
        forward = forward and not line
        short = len(line) <= _SHORT
        dropped, tail = tail, False
        if not line or line[0] == ">" or ("> " in line[:17] and _SUPERCITE.match(line)):
            out.append(("break", ""))
        elif dropped and not indented and (line[0].islower() or line[0] == "("):
            tail = True  # "    * [DOXIA-523] - Ampersands ... are now" + "throwing parse errors.": a wrapped tail
            out.append(("break", ""))
        elif outlook := (line[0] in "*FfDdVv发" and _is_header_block(lines, i)) or (
            short and (line.startswith(_CUT_START) or "ailing" in line) and _CUT.fullmatch(line)
        ):
            if (outlook or "riginal" in line) and not (scan.started or scan.agreed):
                forward = True  # nothing said above the old mail: it is forwarded, with inline notes
                continue
            _drop_footer_intro(out)
            break
        elif ("riginal" in line or "nsubscribe" in line) and (m := _INLINE_CUT.search(line)):
            if line[: m.start()].strip():
                _classify(scan, line[: m.start()].strip())
            break
        elif line[0] in "-B" and short and _FORWARD.fullmatch(line):
            forward = True
        elif line[-1] == ":" and short and _ATTRIBUTION.fullmatch(line):
            _drop_wrapped_attribution(out, lines[i - 1].strip() if i else "")
        elif indented and not code and _continues_item(out, lines[i - 1], line):
            _classify(scan, line)  # a wrapped list item, indented under its text
        elif code or is_code(raw, line) or (line[-1] == ";" and in_statements(lines, i)) or (
            ":" in line and short and _CONTACT.search(line)
        ):
            code = indented
            tail = True
            out.append(("break", ""))
        elif is_noise(line) or (
            " " not in line
            and not _TECHNICAL.isdisjoint(line.rstrip(".,!?:;"))
            and (not out or out[-1][0] not in ("prose", "bullet"))
        ):
            tail = True
            out.append(("break", ""))  # a lone path or identifier, unless it ends a wrapped line
        else:
            _classify(scan, line)
    return scan


def _outside_blocks(lines: list[str]) -> Iterator[tuple[int, str]]:
    """Yield (index, line), with lines of diff hunks, fences, tracebacks and PGP signatures as ""."""
    old = new = 0  # lines still due in the current diff hunk, from its "@@ -a,b +c,d @@"
    block = ""  # "fence", "pgp" or "trace" while inside one
    for i, raw in enumerate(lines):
        mark = raw[:1]
        if not (block or old > 0 or new > 0) and not (raw.lstrip() if mark.isspace() else raw).startswith(_OPENERS):
            yield i, raw  # the common case: no block open, and none opening on this line
            continue
        line = raw.strip()
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
            elif line.startswith(_OPENERS[1:]):
                block = {"`": "fence", "-": "pgp", "T": "trace"}[line[0]]
            else:
                yield i, raw
                continue
        yield i, ""  # a skipped line still separates paragraphs


def _is_header_block(lines: list[str], i: int) -> bool:
    """Does line i open a 'From: / Sent: / To:' block, i.e. an Outlook-quoted mail?"""
    roles = set()
    for j, line in enumerate(lines[i : i + 7]):
        m = _HEADER.match(line.strip())
        role = _HEADER_ROLE.get(m.group(1).lower(), m.group(1).lower()) if m else ""
        if (j == 0) != (role == "from"):
            return False  # the block opens with its From: line, and has only one
        roles.add(role)
    return {"from", "sent", "to"} <= roles


def _continues_item(out: list[Entry], previous: str, line: str) -> bool:
    """Is this indented line the next line of the list item (or prose) just kept, not code?

    "  - A console daemon could log straight into" is followed by
    "    Tidepool and empty the rings": that is the item going on, not a code block.
    """
    if not out or out[-1][0] not in ("bullet", "prose") or not previous.strip():
        return False
    item = previous.lstrip()
    if not (BULLET.match(item) or previous[:1].isspace()):
        return False  # only lists (and their wrapped lines) are indented in prose
    return not CODE_LIKE.search(line)


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


def _classify(scan: _Scan, line: str) -> None:
    """File one line of the author's own text as prose, bullet, marker or trailer."""
    if ":" in line[:24] and (trailer := _TRAILER.match(line)):
        name = next((n for n in _TRAILER_NAMES if n.lower() == trailer.group(1).lower()), "Co-developed-by")
        scan.trailers.append((name, trailer.group(2).strip()))
        scan.agreed |= name in ("Acked-by", "Reviewed-by", "Tested-by")
        scan.entries.append(("break", ""))
    elif len(line) <= 60 and _first_word(line) in _MARKER_WORDS and (marker := _MARKER.match(line)):
        kind = marker.lastgroup or "greeting"
        scan.agreed |= kind == "support"
        if kind == "support" and not scan.vote:
            scan.vote = "+"
        scan.entries.append((kind if kind != "greeting" else "break", ""))
    elif not line[0].isalpha() and not _LETTER.search(line):  # rules, bare numbers, table cells
        scan.entries.append(("sep" if len(line) > 1 and set(line) <= set("-_=*#~+.") else "break", ""))
    elif not scan.started and _VOCATIVE.fullmatch(line):
        scan.entries.append(("break", ""))
    else:
        if not scan.started and not scan.vote and line[0] in "+-" and (vote := _VOTE.match(line)):
            scan.vote = vote.group()[0]  # "-1: the archive misses the license", "+1, and thanks"
        scan.started = True
        bullet = BULLET.match(line) if line[0] in "-*•+–(0123456789" else None
        body = line[bullet.end() :] if bullet else line
        if body[0] == ">":  # "- > text" is a quote in a list
            scan.entries.append(("break", ""))
            return
        if ":" in body[:14] and (action := _ACTION.match(body)):
            scan.actions.append(action.group(1).strip())
        if "  " in body or not body.isprintable():  # tabs, runs of spaces, NBSP: one space each
            body = " ".join(body.split())
        if "<" in body and ("<http" in body or "<mailto" in body):
            body = _GLUED_LINK.sub("", body)
        scan.entries.append(("bullet" if bullet else "prose", body))


def _linked_markers(prose: str, text: str) -> str:
    """*prose* with each `[n]` marker whose reference the author listed ("[2] https://...") as "[n](URL)".

    The reference list itself is dropped with the links; the summary keeps the
    marker as a link to it (`bot.pipeline.summarize.sentences`). A marker with
    no reference stays bare, and the summary drops it.
    """
    references = {m[1]: m[2] for m in _REFERENCE.finditer(text)}
    if not references:
        return prose
    return _REF_MARKER.sub(lambda m: f"[{m[1]}]({references[m[1]]})" if m[1] in references else m[0], prose)


def _first_word(line: str) -> str:
    words = line.lstrip("-~").split(None, 1)
    return words[0].rstrip(",.!:，").lower() if words else ""


def _paragraphs(entries: list[Entry]) -> str:
    paragraphs: list[list[str]] = []
    open_paragraph = False
    for kind, text in entries:
        if kind == "prose" and open_paragraph:
            paragraphs[-1].append(text)
        elif kind in ("prose", "bullet"):
            paragraphs.append([text])  # a bullet always opens its own paragraph
        open_paragraph = kind in ("prose", "bullet")
    return "\n\n".join(" ".join(p) for p in paragraphs)
