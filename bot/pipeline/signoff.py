"""The end of a cleaned mail: sign-offs and signatures peeled off.

`bot.pipeline.clean` files each line of a mail as an entry (prose, bullet, break,
close, sep or support); what is left at the end after "Thanks," or a "--"
rule, a name with a title and company, or a quoted motto, is the author
signing, not writing. These rules only look at the last few entries.
"""

from __future__ import annotations

Entry = tuple[str, str]  # (kind, text); kind: prose, bullet, break, close, sep or support

# One-word replies that look like a signed name ("Correct.") but are an answer.
_ANSWERS = frozenset(
    {"yes", "no", "yep", "nope", "right", "correct", "exactly", "indeed", "true", "false", "done", "fixed", "sure"}
    | {"agreed", "absolutely", "definitely", "confirmed", "nice", "awesome", "great", "cool", "interesting", "good"}
    | {"perfect", "excellent"}
)


def trim_tail(entries: list[Entry]) -> None:
    """Peel sign-offs and signature blocks off the end until neither is left."""
    # Runs of dropped lines collapse to one break, so each peel looks at a few entries;
    # real mail has two or three layers ("Thanks," / "Maya" / "Maya Chen, ACME").
    entries[:] = [e for i, e in enumerate(entries) if e[1] or not i or entries[i - 1] != e]
    for _ in range(8):
        if not (_drop_signoff(entries) or _drop_signature(entries)):
            break


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
    if start and entries[start - 1][0] == "prose":
        return False  # over eight lines: prose, not a signature
    if start and entries[start - 1][0] == "bullet":  # "- Maya" signs off like "-Maya"
        start -= 1
    tail = [text for _, text in entries[start:]]
    if not tail:
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
    if strict and ((text[-1] in ".!" and len(words) > 1) or words[0].strip(".!").lower() in _ANSWERS):
        return False  # "It works." or "Correct." answers; a name ends in "." only alone: "Konrad."
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
