"""Hand-written hostile mail: the kinds of input real lists and attackers send.

Every sample is written here, for the project, so the tests that use them run
without ../shared. `SAMPLES` are small and varied (broken MIME, unknown
charsets, RFC 2231 parameters, endless nesting, a MIME torture message,
header junk); the `huge_*` builders make the messages that must hit a limit.
All dates fall in the week of 18 August 2014, so a digest of that week reads them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

WEEK = "2014-08-20"  # any day of the week the samples are dated in


def head(n: str, subject: str = "Hostile", *, extra: str = "", day: int = 19) -> bytes:
    """The usual header block of sample `n`, without the blank line that ends it."""
    return (f"From: Sample Sender <sender{sum(n.encode()) % 97}@example.org>\n"
            f"To: dev@lists.example.org\nSubject: {subject}\n"
            f"Date: Tue, {day} Aug 2014 1{len(n) % 10}:00:00 +0000\nMessage-ID: <{n}@hostile.example>\n"
            f"{extra}").encode()


def _mime(n: str, subject: str, ctype: str, body: bytes, extra: str = "") -> bytes:
    return head(n, subject, extra=f"MIME-Version: 1.0\nContent-Type: {ctype}\n{extra}") + b"\n" + body


# -- broken MIME boundaries ----------------------------------------------------------


def boundary_never_used() -> bytes:
    return _mime("b-unused", "Boundary declared, never used", 'multipart/mixed; boundary="declared"',
                 b"--other\nContent-Type: text/plain\n\nThe parts use another boundary.\n--other--\n")


def boundary_missing() -> bytes:
    return _mime("b-missing", "Multipart without a boundary", "multipart/mixed",
                 b"--x\nContent-Type: text/plain\n\nNo boundary parameter at all.\n--x--\n")


def boundary_empty() -> bytes:
    return _mime("b-empty", "Empty boundary", 'multipart/alternative; boundary=""',
                 b"--\nContent-Type: text/plain\n\nAn empty boundary string.\n----\n")


def final_boundary_missing() -> bytes:
    return _mime("b-final", "No closing boundary", 'multipart/mixed; boundary="zz"',
                 b"preamble\n--zz\nContent-Type: text/plain\n\nFirst part, then the mail just stops.\n"
                 b"--zz\nContent-Type: text/html\n\n<p>unterminated")


def boundary_reused_inside() -> bytes:
    inner = (b"--same\nContent-Type: multipart/alternative; boundary=\"same\"\n\n"
             b"--same\nContent-Type: text/plain\n\nInner part with the outer boundary.\n--same--\n"
             b"--same\nContent-Type: text/plain\n\nAnother.\n--same--\n")
    return _mime("b-reused", "Nested boundary equals the outer one", 'multipart/mixed; boundary="same"', inner)


def boundary_huge() -> bytes:
    boundary = "q" * 5000
    return _mime("b-huge", "A 5000-character boundary", f'multipart/mixed; boundary="{boundary}"',
                 f"--{boundary}\nContent-Type: text/plain\n\nLong boundary.\n--{boundary}--\n".encode())


def boundary_prefix_of_another() -> bytes:
    return _mime("b-prefix", "Boundary that prefixes body lines", 'multipart/mixed; boundary="ab"',
                 b"--ab\nContent-Type: text/plain\n\n--abc is not a boundary\n--ab-- inside\n"
                 b"--ab\n\nsecond part without headers\n--ab--\nepilogue\n")


# -- charsets ----------------------------------------------------------------------


def unknown_body_charset() -> bytes:
    return _mime("cs-unknown", "Unknown body charset", 'text/plain; charset="x-klingon-8"',
                 "Qapla\u2019 \xe9t\xe9 caf\xe9\n".encode("utf-8") + b"\xff\xfe raw bytes\n")


def unknown_header_charsets() -> bytes:
    subject = "=?x-unknown?B?SGVsbG8=?= =?utf-8?Q?broken=ZZ?= =?iso-8859-1?B?not*base64?= =?utf-8?q??="
    return head("cs-header", subject, extra="From: =?bogus?Q?Mallory?= <m@example.org>\n") + b"\nbody\n"


def charset_injection() -> bytes:
    return _mime("cs-inject", "Charset with quotes", 'text/plain; charset="utf-8\\"; x=\\"y"; format=flowed',
                 b"A charset parameter with escaped quotes.\n")


def charset_mismatch() -> bytes:
    return _mime("cs-mismatch", "Declared UTF-8, is Latin-1", "text/plain; charset=utf-8",
                 "Caf\xe9 cr\xe8me br\xfbl\xe9e for everyone.\n".encode("latin-1"),
                 extra="Content-Transfer-Encoding: 8bit\n")


def utf7_and_utf16() -> bytes:
    body = (b"--c\nContent-Type: text/plain; charset=utf-7\n\n+AGEAYgBj- utf-7 text\n"
            b"--c\nContent-Type: text/plain; charset=utf-16\nContent-Transfer-Encoding: base64\n\n"
            + base64.b64encode("\ufeffUTF-16 text with a BOM\n".encode("utf-16-le")) + b"\n--c--\n")
    return _mime("cs-utf7", "UTF-7 and UTF-16 parts", 'multipart/mixed; boundary="c"', body)


def iso_2022_jp() -> bytes:
    return _mime("cs-jp", "=?iso-2022-jp?B?GyRCJUYlOSVIGyhC?=", "text/plain; charset=iso-2022-jp",
                 "\u65e5\u672c\u8a9e\u306e\u672c\u6587\u3067\u3059\u3002\n".encode("iso-2022-jp") + b"\x1b$B\n")


# -- RFC 2231 parameters -------------------------------------------------------------


def rfc2231_parameters() -> bytes:
    parts = [
        "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rates%20%C3%BC.pdf",
        "Content-Disposition: attachment; filename*0*=utf-8''%E2%82%AC; filename*1=part2; filename*2*=%20end.txt",
        "Content-Disposition: attachment; filename*=x-bogus'en'%FF%FE%FD.bin",
        "Content-Disposition: attachment; filename*=utf-8''%ZZ%G1%%.txt",
        "Content-Disposition: attachment; filename*0=a; filename*2=c; filename*7=gap.txt",
        "Content-Disposition: attachment; filename*=''; filename=\"plain.txt\"",
        "Content-Type: application/octet-stream; name*=utf-8'fr'%E2%80%AE%74%78%74.exe",
        "Content-Disposition: attachment; filename*1*=only-the-second-segment.txt",
    ]
    body = b"".join(f"--p\n{p}\n\ncontent {i}\n".encode() for i, p in enumerate(parts))
    body = b"--p\nContent-Type: text/plain\n\nSee the attachments.\n" + body + b"--p--\n"
    return _mime("rfc2231", "RFC 2231 parameters", 'multipart/mixed; boundary="p"', body)


def rfc2231_in_content_type() -> bytes:
    return _mime("rfc2231-ct", "RFC 2231 charset of a boundary",
                 "multipart/mixed; boundary*0=\"b1\"; boundary*1=\"b2\"; charset*=us-ascii'en'%22",
                 b"--b1b2\nContent-Type: text/plain\n\nA boundary split into segments.\n--b1b2--\n")


# -- endless nesting ----------------------------------------------------------------


def nested_rfc822(depth: int = 2000) -> bytes:
    """`depth` messages, each the only content of the one around it."""
    inner = b"From: core@example.org\nSubject: the core\n\nThe innermost text.\n"
    for level in range(depth):
        inner = (f"From: level{level}@example.org\nSubject: level {level}\nMIME-Version: 1.0\n"
                 f"Content-Type: message/rfc822\n\n").encode() + inner
    return head("nest-rfc822", f"{depth}-deep message/rfc822") + b"MIME-Version: 1.0\n" \
        b"Content-Type: message/rfc822\n\n" + inner


def nested_multipart(depth: int = 2000) -> bytes:
    """`depth` multiparts, each inside the previous, with a text leaf at the bottom."""
    opening = b"".join(f'Content-Type: multipart/mixed; boundary="n{i}"\n\n--n{i}\n'.encode() for i in range(depth))
    closing = b"".join(f"\n--n{i}--\n".encode() for i in reversed(range(depth)))
    return head("nest-multipart", f"{depth}-deep multipart") + b"MIME-Version: 1.0\n" + opening \
        + b"Content-Type: text/plain\n\nthe leaf\n" + closing


# -- a MIME torture message ----------------------------------------------------------


def torture() -> bytes:
    """Many kinds of breakage in one message, nested, in the spirit of the MIME torture test."""
    signed = (b"Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=\"sig\"\n\n"
              b"--sig\nContent-Type: text/plain\n\nSigned text.\n"
              b"--sig\nContent-Type: application/pgp-signature\n\n-----BEGIN PGP SIGNATURE-----\nxx\n--sig--\n")
    forwarded = (b"From: inner@example.org\nSubject: forwarded\nMIME-Version: 1.0\n" + signed)
    digest = (b"Content-Type: multipart/digest; boundary=\"dig\"\n\n"
              b"--dig\n\nFrom: d1@example.org\nSubject: digest one\n\nfirst digest entry\n"
              b"--dig\n\nnot a message at all\n"
              b"--dig\nContent-Type: text/plain\n\nexplicit text in a digest\n--dig--\n")
    alternative = (b"Content-Type: multipart/alternative; boundary=\"alt\"\n\n"
                   b"--alt\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
                   b"Soft=\nbreak, bad escape =ZZ, caf=C3=A9, trailing =\n"
                   b"--alt\nContent-Type: text/html\n\n<p onclick=\"x()\">Hi<script>alert(1)</script></p>\n"
                   b"--alt--\n")
    pieces = [
        b"Content-Type: text/plain\n\nThe first part of the torture message.\n",
        alternative,
        b"Content-Type: message/rfc822\n\n" + forwarded,
        digest,
        b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAAA=B===*&^\n",
        b"Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 f\n#86)C\n`\nend\n",
        b"Content-Type: text/plain\nContent-Transfer-Encoding: binary\n\nNUL\x00bytes\x00and\x01controls\r\rbare CR\n",
        b"Content-Type: text/plain\nContent-Type: text/html\nContent-Transfer-Encoding: base64\nNo-Colon-Here\n\n"
        b"not base64 at all!!\n",
        b"Content-Type: message/partial; id=\"x@y\"; number=2; total=3\n\npartial content\n",
        b"Content-Type: message/external-body; access-type=URL; URL=\"http://example.org/x\"\n\n"
        b"Content-Type: text/plain\n\n",
        b"Content-Type: multipart/alternative; boundary=\"empty\"\n\n--empty--\n",
        b"Content-Type: x-unknown/x-type; charset=none\n\n\xc3\x28 invalid utf-8\n",
        b"Content-Type: text/plain; charset=us-ascii\n\n8-bit in ascii: \xe9\xe8\n",
        b"\nA part with no headers at all.\n",
    ]
    body = b"This is a preamble; MIME readers ignore it.\n" + b"".join(b"--tort\n" + p for p in pieces) \
        + b"--tort--\nand an epilogue\n"
    return _mime("torture", "MIME torture", 'multipart/mixed; boundary="tort"', body)


# -- header junk -------------------------------------------------------------------


def header_junk() -> bytes:
    return (b"From: ((((((((((((((((((((((((((((((((((nested comments))))))))))))))))))))))))))))))))) <a@b>\n"
            b"To: undisclosed-recipients:;\nSubject: one\nSubject: two\n"
            b"Date: Mon, 99 Foo 99999 99:99:99 +9999\n"
            b"Message-ID: <junk@hostile.example>\nX-Null: a\x00b\nNo colon on this line\n"
            b" continuation of nothing\nX-8bit: \xff\xfe\xe9\n" + b"X-Long: " + b"y" * 20000 + b"\n"
            b"In-Reply-To: <a@b> <c@d> garbage <<<>>>\nReferences: <<x@y>> <\n z@w> <>\n\nbody\n")


def comment_bomb() -> bytes:
    return head("comments", "Deeply nested comments", extra="Cc: " + "(" * 5000 + "x" + ")" * 5000 + "\n"
                ).replace(b"From: Sample Sender", b"From: " + b"(" * 5000 + b"Sender" + b")" * 5000) \
        + b"\nbody\n"


def crlf_and_cr() -> bytes:
    crlf = head("crlf", "CRLF line endings").replace(b"\n", b"\r\n") + b"\r\nA CRLF body.\r\n"
    return crlf


def bare_cr() -> bytes:
    return head("bare-cr", "Bare CR endings").replace(b"\n", b"\r") + b"\rOld Mac line endings.\r"


def no_body() -> bytes:
    return head("no-body", "Header only, no blank line")


def no_headers() -> bytes:
    return b"\nA body with no header at all.\n"


def binary_junk() -> bytes:
    return bytes(range(256)) * 40


def bom_and_nul() -> bytes:
    return b"\xef\xbb\xbf" + head("bom", "Starts with a BOM") + b"\nnul \x00\x00\x00 body\n"


def html_only_hostile() -> bytes:
    html = (b"<html><body><script>document.write('x')</script><p>Meeting <b>moved</b>.</p>"
            b"<img src=x onerror=alert(1)><a href=\"javascript:alert(1)\">click</a>" + b"<div>" * 3000
            + b"deep" + b"</div>" * 3000 + b"</body></html>\n")
    return _mime("html-only", "<script>alert('subject')</script>", "text/html; charset=utf-8", html)


def injection_headers() -> bytes:
    return head("inject", "=?utf-8?q?Hi=0D=0ABcc:_victim@example.org?=",
                extra="From: =?utf-8?q?Eve=0AX-Evil:_1?= <eve@example.org>\n") + b"\nhello\n"


def long_line_body() -> bytes:
    return head("long-line", "A 2 MB line") + b"\n" + b"word " * 400_000 + b"\n"


SAMPLES: dict[str, Callable[[], bytes]] = {
    "boundary never used": boundary_never_used,
    "boundary missing": boundary_missing,
    "boundary empty": boundary_empty,
    "final boundary missing": final_boundary_missing,
    "boundary reused inside": boundary_reused_inside,
    "boundary 5000 chars": boundary_huge,
    "boundary prefix": boundary_prefix_of_another,
    "unknown body charset": unknown_body_charset,
    "unknown header charsets": unknown_header_charsets,
    "charset with quotes": charset_injection,
    "charset mismatch": charset_mismatch,
    "utf-7 and utf-16": utf7_and_utf16,
    "iso-2022-jp": iso_2022_jp,
    "rfc 2231 parameters": rfc2231_parameters,
    "rfc 2231 boundary": rfc2231_in_content_type,
    "2000-deep message/rfc822": nested_rfc822,
    "2000-deep multipart": nested_multipart,
    "mime torture": torture,
    "header junk": header_junk,
    "comment bomb": comment_bomb,
    "crlf": crlf_and_cr,
    "bare cr": bare_cr,
    "no body": no_body,
    "no headers": no_headers,
    "binary junk": binary_junk,
    "bom and nul": bom_and_nul,
    "hostile html only": html_only_hostile,
    "header injection": injection_headers,
    "2 MB line": long_line_body,
}


# -- messages that must hit a limit --------------------------------------------------


def huge_message(megabytes: int = 50) -> bytes:
    line = b"This line repeats until the message is very large indeed, far past any limit.\n"
    return head("huge", f"A {megabytes} MB message") + b"\n" + line * (megabytes * 1024 * 1024 // len(line) + 1)


def many_parts(count: int = 10_000) -> bytes:
    parts = b"".join(f"--m\nContent-Type: text/plain\n\npart {i}\n".encode() for i in range(count))
    return _mime("many-parts", f"{count} parts", 'multipart/mixed; boundary="m"', parts + b"--m--\n")


def long_header(lines: int = 100_000) -> bytes:
    return head("long-header", f"{lines}-line header") + b"".join(b"X-Line-%d: v\n" % i for i in range(lines)) \
        + b"\nbody\n"


def folded_header(lines: int = 100_000) -> bytes:
    return head("folded-header", "One header folded over many lines") + b"X-Folded: start\n" \
        + b" more\n" * lines + b"\nbody\n"


def deep_references(depth: int = 10_000) -> bytes:
    refs = " ".join(f"<ref{i}@hostile.example>" for i in range(depth))
    return head("deep-refs", f"References {depth} deep", extra=f"References: {refs}\n"
                f"In-Reply-To: <ref{depth - 1}@hostile.example>\n") + b"\nreply at the end of a long chain\n"


def huge_subject(size: int = 1024 * 1024) -> bytes:
    words = ("subject words " * (size // 14 + 1))[:size]
    return head("huge-subject", words) + b"\nbody\n"


def reply_chain(length: int) -> list[bytes]:
    """`length` messages, each a reply to the one before: one thread `length` deep."""
    out = []
    for i in range(length):
        refs = f"In-Reply-To: <chain{i - 1}@hostile.example>\nReferences: <chain{i - 1}@hostile.example>\n" if i else ""
        out.append((f"From: Person {i % 50} <p{i % 50}@example.org>\nTo: dev@lists.example.org\n"
                    f"Subject: {'Re: ' if i else ''}The long thread\n"
                    f"Date: Wed, 20 Aug 2014 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d} +0000\n"
                    f"Message-ID: <chain{i}@hostile.example>\n{refs}\n"
                    f"Reply number {i} agrees with the plan to release version {i % 7} soon.\n"
                    f"It also asks whether the build on platform {i % 13} is fixed.\n").encode())
    return out
