"""One generated message as bytes: list headers, MIME structure, quoting, footer.

Messages are assembled as text, not with `email.message` (which would make
the generator slower than the parser it benchmarks). The shapes are the
ones real lists carry: Received chains and DKIM signatures, Mailman's List-*
headers and footer, RFC 2047 names, quoted-printable and base64 parts,
multipart/alternative, HTML-only mail and the odd attachment.
"""

from __future__ import annotations

import base64
import hashlib
import html
import quopri
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime

LIST = "driftwood-devel"
LIST_ADDRESS = f"{LIST}@lists.example.org"
FOOTER = (f"_______________________________________________\n{LIST} mailing list\n{LIST_ADDRESS}\n"
          f"https://lists.example.org/mailman/listinfo/{LIST}\n")


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    address: str
    signature: tuple[str, ...]  # lines after "-- ", empty for none
    client: str  # User-Agent header
    html: float  # how often this person sends HTML (0..1)

    @property
    def first(self) -> str:
        return self.name.split()[0]


@dataclass(frozen=True, slots=True)
class Envelope:
    """Everything about a message except its body."""

    message_id: str
    author: Person
    date: datetime
    subject: str
    in_reply_to: str | None
    references: tuple[str, ...]
    cc: tuple[str, ...] = ()


def render(env: Envelope, body: str, rng: random.Random, *, html_only: bool = False,
           alternative: bool = False, attachment: bytes | None = None, signed: bool = False) -> bytes:
    """The message as it sits in the list's archive (without the mbox From line)."""
    text = body + "\n" + FOOTER
    if html_only:
        head, payload = _single("text/html", _as_html(body) + _html_footer(), rng)
    elif attachment is not None:
        head, payload = _mixed(text, attachment, rng)
    elif alternative:
        head, payload = _alternative(text, _as_html(body) + _html_footer(), rng)
    elif signed:
        head, payload = _signed(text, env, rng)
    else:
        head, payload = _single("text/plain", text, rng)
    return (_headers(env, rng) + head + "\n" + payload).encode("utf-8")


def _headers(env: Envelope, rng: random.Random) -> str:
    hops = rng.randint(2, 4)
    lines = [f"Return-Path: <{env.author.address}>"]
    for hop in range(hops):
        stamp = format_datetime(env.date + timedelta(seconds=hops - hop))
        lines.append(f"Received: from mx{hop}.{env.author.address.split('@')[1]} (mx{hop} [192.0.2.{hop + 10}])\n"
                     f"\tby lists.example.org (Postfix) with ESMTPS id {_token(env.message_id, hop)}\n"
                     f"\tfor <{LIST_ADDRESS}>; {stamp}")
    if rng.random() < 0.5:
        lines += _authentication(env)
    lines += [
        f"From: {_display(env.author.name)} <{env.author.address}>",
        f"To: {LIST_ADDRESS}",
    ]
    if env.cc:
        lines.append("Cc: " + ",\n\t".join(env.cc))
    lines += [f"Subject: {env.subject}", f"Date: {format_datetime(env.date)}", f"Message-ID: {env.message_id}"]
    if env.in_reply_to:
        lines.append(f"In-Reply-To: {env.in_reply_to}")
    if env.references:
        lines.append("References: " + "\n\t".join(env.references))
    lines += [
        f"User-Agent: {env.author.client}",
        "MIME-Version: 1.0",
        "X-BeenThere: " + LIST_ADDRESS,
        "X-Mailman-Version: 2.1.39",
        "Precedence: list",
        f"List-Id: Driftwood development <{LIST}.lists.example.org>",
        f"List-Unsubscribe: <https://lists.example.org/mailman/options/{LIST}>,\n"
        f"\t<mailto:{LIST}-request@lists.example.org?subject=unsubscribe>",
        f"List-Archive: <https://lists.example.org/pipermail/{LIST}/>",
        f"List-Post: <mailto:{LIST_ADDRESS}>",
        f"List-Help: <mailto:{LIST}-request@lists.example.org?subject=help>",
        f"Errors-To: {LIST}-bounces@lists.example.org",
        f"Sender: \"{LIST}\" <{LIST}-bounces@lists.example.org>",
    ]
    return "\n".join(lines) + "\n"


def _token(seed: str, salt: int) -> str:
    return hashlib.blake2s(f"{seed}{salt}".encode(), digest_size=6).hexdigest().upper()


def _dkim(env: Envelope) -> str:
    digest = hashlib.sha256(env.message_id.encode()).digest() * 6
    sig = base64.b64encode(digest).decode()
    folded = "\n\t ".join(sig[i : i + 70] for i in range(0, len(sig), 70))
    domain = env.author.address.split("@")[1]
    return (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=2024;\n"
            f"\th=from:to:subject:date:message-id; bh={sig[:44]};\n\tb={folded}")


def _authentication(env: Envelope) -> list[str]:
    domain = env.author.address.split("@")[1]
    seal = _dkim(env).split("b=", 1)[1]
    return [
        f"ARC-Seal: i=1; a=rsa-sha256; t=1700000000; cv=none; d=lists.example.org; s=arc;\n\tb={seal}",
        f"ARC-Authentication-Results: i=1; lists.example.org; dkim=pass header.d={domain};\n"
        f"\tspf=pass smtp.mailfrom={domain}; dmarc=pass header.from={domain}",
        f"Authentication-Results: lists.example.org; dkim=pass (2048-bit key) header.d={domain};\n"
        f"\tspf=pass (lists.example.org: domain of {env.author.address} designates 192.0.2.10 as permitted sender)",
        _dkim(env),
        "X-Spam-Status: No, score=-2.1 required=5.0 tests=BAYES_00,DKIM_SIGNED,DKIM_VALID,\n"
        "\tDKIM_VALID_AU,RCVD_IN_DNSWL_NONE,SPF_PASS autolearn=ham autolearn_force=no version=3.4.6",
        "X-Spam-Checker-Version: SpamAssassin 3.4.6 (2021-04-09) on lists.example.org",
    ]


def _display(name: str) -> str:
    if name.isascii():
        return f'"{name}"' if "." in name else name
    return "=?utf-8?b?" + base64.b64encode(name.encode()).decode() + "?="


def _single(ctype: str, text: str, rng: random.Random) -> tuple[str, str]:
    if text.isascii() and rng.random() < 0.7:
        return f"Content-Type: {ctype}; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n", text
    if rng.random() < 0.5:
        encoded = quopri.encodestring(text.encode("utf-8")).decode("ascii")
        return f"Content-Type: {ctype}; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n", encoded
    return f"Content-Type: {ctype}; charset=utf-8; format=flowed\nContent-Transfer-Encoding: 8bit\n", text


def _alternative(text: str, markup: str, rng: random.Random) -> tuple[str, str]:
    boundary = f"=_alt_{rng.getrandbits(48):012x}"
    parts = []
    for ctype, content in (("text/plain", text), ("text/html", markup)):
        head, payload = _single(ctype, content, rng)
        parts.append(f"--{boundary}\n{head}\n{payload}")
    body = "This is a multi-part message in MIME format.\n\n" + "\n".join(parts) + f"\n--{boundary}--\n"
    return f'Content-Type: multipart/alternative; boundary="{boundary}"\n', body


def _mixed(text: str, attachment: bytes, rng: random.Random) -> tuple[str, str]:
    boundary = f"=_mix_{rng.getrandbits(48):012x}"
    head, payload = _single("text/plain", text, rng)
    data = base64.encodebytes(attachment).decode("ascii")
    body = (f"--{boundary}\n{head}\n{payload}\n--{boundary}\n"
            f'Content-Type: text/x-log; name="build.log"\nContent-Disposition: attachment; filename="build.log"\n'
            f"Content-Transfer-Encoding: base64\n\n{data}--{boundary}--\n")
    return f'Content-Type: multipart/mixed; boundary="{boundary}"\n', body


def _signed(text: str, env: Envelope, rng: random.Random) -> tuple[str, str]:
    boundary = f"=_sig_{rng.getrandbits(48):012x}"
    head, payload = _single("text/plain", text, rng)
    armor = base64.encodebytes(hashlib.sha512(env.message_id.encode()).digest() * 4).decode("ascii")
    body = (f"--{boundary}\n{head}\n{payload}\n--{boundary}\n"
            f'Content-Type: application/pgp-signature; name="signature.asc"\n'
            f"Content-Description: OpenPGP digital signature\n\n-----BEGIN PGP SIGNATURE-----\n\n{armor}"
            f"-----END PGP SIGNATURE-----\n\n--{boundary}--\n")
    return (f'Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature";\n'
            f'\tboundary="{boundary}"\n', body)


def _as_html(body: str) -> str:
    out = ['<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body>']
    quote: list[str] = []
    for block in body.split("\n\n"):
        lines = block.splitlines()
        if lines and all(line.startswith(">") for line in lines):
            quote.append(html.escape(" ".join(line.lstrip("> ") for line in lines)))
            continue
        if quote:
            out.append('<blockquote type="cite"><p>' + "</p><p>".join(quote) + "</p></blockquote>")
            quote = []
        out.append('<p style="margin:0">' + "<br>".join(html.escape(line) for line in lines) + "</p>")
    if quote:
        out.append('<blockquote type="cite"><p>' + "</p><p>".join(quote) + "</p></blockquote>")
    return "\n".join(out) + "\n"


def _html_footer() -> str:
    return "<pre>" + html.escape(FOOTER) + "</pre></body></html>\n"


def mbox_from_line(env: Envelope) -> bytes:
    """The mbox separator line for `env` (asctime in UTC, as archives write it)."""
    return f"From {env.author.address} {env.date.strftime('%a %b %d %H:%M:%S %Y')}\n".encode()


def escape_from(raw: bytes) -> bytes:
    """mboxrd: a body line starting with "From " (or ">From ") gains one ">"."""
    if b"From " not in raw:
        return raw
    lines = raw.split(b"\n")
    return b"\n".join(b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in lines)
