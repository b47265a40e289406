"""The chair's answers by mail: approve, reject REASON, an edited Markdown body, or done ID (an action).

A reply counts only if all of these hold, checked in this order:
  1. it comes from a configured chair address,
  2. it carries a token (subject tag, X-Digestbot-Token, or In-Reply-To of the
     review mail) that is the HMAC of the draft id and revision,
  3. it passes DKIM for the From domain, when review.require_dkim is set,
  4. the token is for the draft's current revision, and the draft is still open,
  5. the token was not used before (used_tokens; the same reply polled twice
     is not a replay).
Anything else that looks like a review answer is ignored, logged, and the
chair is told (one notice per batch). Auto-replies are ignored silently, so
two robots can never answer each other. Unsubscribe requests arrive here too;
with [[lists]], which list one leaves is bot.review.roster's rule, from what
`lists_named` finds in the mail.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses, parseaddr
from typing import Any

from bot.errors import ConfigError, DigestbotError, ReviewError
from bot.mail.smtp import Mailer
from bot.model import Mail, RawMail
from bot.render.message import address_domain, bot_address
from bot.review import lifecycle
from bot.review.mail import chair_addresses
from bot.review.memory import close_action
from bot.review.notify import request_review, secret, tell_chair
from bot.review.roster import unsubscribe_address, unsubscribe_by_token, unsubscribe_from_lists
from bot.review.tokens import Tag, find_tag, find_unsubscribe_token, is_valid
from bot.settings import Settings
from bot.store.access import StoreConflict
from bot.store.database import Store, now
from bot.store.groups import Transaction

log = logging.getLogger("digestbot.review")
DnsFunc = Callable[..., Any]
MAX_EDIT_CHARS = 1_000_000
_REVIEW_ID = re.compile(r"<review\.(\d{1,9})\.r(\d{1,6})\.([0-9a-f]{20})\.")
_DIGEST_ID = re.compile(r"<digest-\d{8}-(\d{1,9})-[0-9a-f]+@")  # a sent digest's Message-ID (review/lifecycle.py)
_WORDS = re.compile(r"[^\s,;:()\[\]<>\"']+")
_ATTRIBUTION = re.compile(r"^(On .{0,300} wrote:|-+ ?Original Message ?-+|_{20,})\s*$", re.IGNORECASE)
_APPROVE = re.compile(r"approved?[.!]?", re.IGNORECASE)
_REJECT = re.compile(r"reject(?:ed)?\b[\s:.-]*(.*)", re.IGNORECASE)
_DONE = re.compile(r"done\s+#?(\d{1,9})\b[\s:.-]*(.*)", re.IGNORECASE)
_AUTO = (("auto-submitted", None), ("x-autoreply", None), ("x-autorespond", None), ("precedence", "auto_reply"))


@dataclass(frozen=True, slots=True)
class ReplyResult:
    message_id: str
    # approved | rejected | edited | closed | unsubscribed | asked-which-list | ignored | duplicate | auto-reply
    # | not-review
    action: str
    digest_id: int | None = None
    reason: str = ""


def is_for_bot(raw: bytes, settings: Settings) -> bool:
    """Whether a polled mail is addressed to the bot itself, not list traffic.

    To and Cc only: Delivered-To names the bot on every list message it gets.
    A message that came through a list (List-Id) is the list's, even if the
    sender also put the bot in Cc; the direct copy is the one for the bot.
    """
    msg = email.message_from_bytes(_head(raw), policy=email.policy.compat32)
    if msg.get("List-Id"):
        return False
    mine = {parseaddr(a)[1].lower() for a in (bot_address(settings), unsubscribe_address(settings)) if a}
    fields = [str(v) for name in ("To", "Cc") for v in msg.get_all(name, [])]
    try:
        found = getaddresses(fields)
    except Exception:  # noqa: BLE001 - e.g. thousands of nested comments: not a reply, stored as list mail
        return False
    return any(addr.lower() in mine for _name, addr in found)


def answered_digests(raw: bytes) -> list[int]:
    """The ids of the digests whose review mail `raw` answers (In-Reply-To, then References, newest first)."""
    msg = email.message_from_bytes(_head(raw), policy=email.policy.compat32)
    refs = [str(msg.get("In-Reply-To", "")), *reversed(str(msg.get("References", "")).split())]
    return [int(match.group(1)) for ref in refs if (match := _REVIEW_ID.search(ref.strip()))]


def lists_named(store: Store, config: Settings, subject: str, msg: Message) -> set[str]:
    """The lists of `config` an unsubscribe mail names: a word of its subject that is a list's name,
    an address in To or Cc that only one list uses, a digest or review mail of one list it answers."""
    by_word: dict[str, set[str]] = {}
    owners: dict[str, set[str]] = {}
    for view in config.lists:
        name = view.list.name
        by_word.setdefault(name.lower(), set()).add(name)
        for address in (view.list.address, bot_address(view), unsubscribe_address(view)):
            if bare := parseaddr(address)[1].lower():
                owners.setdefault(bare, set()).add(name)
    exact = set(config.list_names)  # a name as written; else one that differs in case only, if just one does
    found = {word if word in exact else next(iter(by_word[word.lower()])) for word in _WORDS.findall(subject)
             if word in exact or len(by_word.get(word.lower(), ())) == 1}
    try:
        addressed = getaddresses([str(v) for field in ("To", "Cc") for v in msg.get_all(field, [])])
    except Exception:  # noqa: BLE001 - unparsable: names no list
        addressed = []
    found.update(name for _name, addr in addressed if len(lists := owners.get(addr.lower(), set())) == 1
                 for name in lists)
    refs = [str(msg.get("In-Reply-To", "")), *reversed(str(msg.get("References", "")).split())]
    ids = [int(m.group(1)) for ref in refs[:20] for m in (_REVIEW_ID.search(ref), _DIGEST_ID.search(ref)) if m]
    for digest_id in dict.fromkeys(ids):
        owner = store.list_of_digest(digest_id)
        if owner is not None and owner in config.list_names:
            found.add(owner)
    return found


def _head(raw: bytes) -> bytes:
    ends = [pos for pos in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if pos >= 0]
    return raw[: min(ends) + 2] if ends else raw


def process_replies(store: Store, settings: Settings, mails: Iterable[tuple[Mail, bytes]], *,
                    mailer: Mailer | None = None, dkim_dns: DnsFunc | None = None,
                    config: Settings | None = None) -> list[ReplyResult]:
    """Act on the chair's replies among `mails` (parsed, plus raw bytes for headers and DKIM).

    `config`: the whole config when `settings` is one [[lists]] entry's view: an unsubscribe is for any list.
    """
    pairs = list(mails)
    results = [_one(store, settings, mail, raw, mailer, dkim_dns, config) for mail, raw in pairs]
    ignored = [(mail, r) for (mail, _raw), r in zip(pairs, results, strict=True) if r.action == "ignored"]
    if ignored:
        lines = [f"- from {m.from_addr or '(no address)'}, subject {m.subject[:120]!r}: {r.reason}" for m, r in ignored]
        tell_chair(settings, f"ignored {len(ignored)} repl{'y' if len(ignored) == 1 else 'ies'} to review mail",
                   "These mails looked like answers to a review mail but did not count:\n\n" + "\n".join(lines)
                   + "\n\nIf one of them was yours, answer the latest review mail from your chair address,\n"
                   "keeping its subject line.\n", mailer=mailer)
    return results


def handle_bot_mail(store: Store, settings: Settings, raws: Iterable[bytes], *, mailer: Mailer | None = None,
                    dkim_dns: DnsFunc | None = None, config: Settings | None = None) -> list[ReplyResult]:
    """`process_replies` for raw mails (e.g. those of a poll that `is_for_bot` picked out)."""
    from bot.mail.parse import parse_mail
    from bot.store.identity import message_id_of

    stamp = now()
    pairs = [(parse_mail(raw, message_id_of(raw), stamp, settings.limits), raw) for raw in raws]
    return process_replies(store, settings, pairs, mailer=mailer, dkim_dns=dkim_dns, config=config)


class BotMail:
    """The poll hook: takes the bot's own mail out of a poll's stream and acts on it.

    Made once per poll, for every folder (BotMailFactory in bot/imap/poll.py); Poller._sync does, for
    each folder with new mail:

        ingest(store, bot_mail.filter(source), ..., on_progress=lambda n: (bot_mail.flush(), advance()))
        bot_mail.flush()  # before the folder's sync state moves past the last UID

    Flushing before the sync state moves on makes handling at-least-once; a
    reply handled twice is recognized (its Message-ID is in used_tokens).
    """

    def __init__(self, store: Callable[[], Store], settings: Settings, *, mailer: Mailer | None = None) -> None:
        self._store, self.settings, self.mailer = store, settings, mailer
        self.pending: list[bytes] = []
        self.results: list[ReplyResult] = []

    def filter(self, mails: Iterable[RawMail]) -> Iterator[RawMail]:
        """Yield the list's mail; keep the bot's (replies, unsubscribes) for `flush`."""
        for mail in mails:
            if is_for_bot(mail.raw, self.settings):
                self.pending.append(mail.raw)
            else:
                yield mail

    def flush(self) -> list[ReplyResult]:
        if not self.pending:
            return []
        done = handle_bot_mail(self._store(), self.settings, self.pending, mailer=self.mailer)
        self.pending = []
        self.results.extend(done)
        return done


def _ignore(mail: Mail, reason: str, digest_id: int | None = None) -> ReplyResult:
    log.warning("ignored reply %s from %s: %s", mail.message_id, mail.from_addr or "(no address)", reason)
    return ReplyResult(mail.message_id, "ignored", digest_id, reason)


def _one(store: Store, settings: Settings, mail: Mail, raw: bytes, mailer: Mailer | None,
         dkim_dns: DnsFunc | None, config: Settings | None = None) -> ReplyResult:
    # Only the header is read here (the body comes parsed, in `mail`): a hostile MIME
    # structure, 2,000 levels deep, must not stop the poll that brought it.
    msg = email.message_from_bytes(_head(raw), policy=email.policy.compat32)
    # Before the auto-reply check: an unsubscribe button may mark its mail auto-generated,
    # and the token alone proves the request.
    unsub = find_unsubscribe_token(mail.subject) or find_unsubscribe_token(_own_text(mail.body)[:200])
    if unsub is not None and config is not None and config.entries:
        return _unsubscribe_from_lists(store, config, mail, msg, unsub, mailer)
    if unsub is not None:
        return _unsubscribe(store, settings, mail, unsub)
    if _is_auto(msg):
        log.info("ignored auto-reply %s from %s", mail.message_id, mail.from_addr)
        return ReplyResult(mail.message_id, "auto-reply")
    tag = find_tag(mail.subject, msg) or _tag_from_references(mail)
    command, argument = parse_command(mail.body)
    # A review answer: it names a draft, or starts with a command. (Not merely "[digestbot]"
    # in the subject: a chair chatting back to a notice must not get a notice in return.)
    if tag is None and command == "unknown" and "[digestbot #" not in mail.subject.lower():
        log.debug("not a review reply: %s", mail.message_id)
        return ReplyResult(mail.message_id, "not-review")
    if mail.from_addr.strip().lower() not in chair_addresses(settings):
        return _ignore(mail, f"not from a chair address ({mail.from_addr or 'none'})", tag.digest_id if tag else None)
    if tag is None:
        return _ignore(mail, "no review token (subject tag or X-Digestbot-Token)")
    if not settings.review.secret.configured:
        return _ignore(mail, "review.secret is not configured, so no token can be checked", tag.digest_id)
    if not is_valid(secret(settings), tag):
        return _ignore(mail, "the token does not match the draft and revision (forged or altered)", tag.digest_id)
    if settings.review.require_dkim and not dkim_pass(raw, mail.from_addr, dkim_dns):
        return _ignore(mail, f"no DKIM pass for {mail.from_addr.rpartition('@')[2]}", tag.digest_id)
    return _act(store, settings, mail, tag, command, argument, mailer)


def _is_auto(msg: Message) -> bool:
    for name, value in _AUTO:
        found = str(msg.get(name, "")).strip().lower()
        if found and (found == value if value else found != "no"):
            return True
    return False


def _tag_from_references(mail: Mail) -> Tag | None:
    for ref in (mail.in_reply_to or "", *reversed(mail.references)):
        match = _REVIEW_ID.match(ref)
        if match:
            return Tag(int(match.group(1)), int(match.group(2)), match.group(3))
    return None


def _unsubscribe(store: Store, settings: Settings, mail: Mail, token: str) -> ReplyResult:
    # Without a configured key no token can be genuine; a stranger's mail must not stop the poll.
    if not settings.review.secret.configured:
        log.warning("unsubscribe request %s ignored: review.secret is not configured", mail.message_id)
        return ReplyResult(mail.message_id, "not-review", reason="review.secret is not configured")
    address = unsubscribe_by_token(store, secret(settings), token)
    if address is None:
        log.warning("unsubscribe request %s from %s: token matches no active subscriber", mail.message_id,
                    mail.from_addr)
        return ReplyResult(mail.message_id, "not-review", reason="unsubscribe token matches no active subscriber")
    return ReplyResult(mail.message_id, "unsubscribed", reason=address)


def _unsubscribe_from_lists(store: Store, config: Settings, mail: Mail, msg: Message, token: str,
                            mailer: Mailer | None) -> ReplyResult:
    done = unsubscribe_from_lists(store, config, token, lists_named(store, config, mail.subject, msg), mailer=mailer)
    if done.left:
        return ReplyResult(mail.message_id, "unsubscribed", reason=f"{done.address} from {', '.join(done.left)}")
    if done.unclear:
        return ReplyResult(mail.message_id, "asked-which-list", reason=f"{done.address}: {done.why}")
    log.warning("unsubscribe request %s from %s: %s", mail.message_id, mail.from_addr, done.why)
    return ReplyResult(mail.message_id, "not-review", reason=done.why)


def _act(store: Store, settings: Settings, mail: Mail, tag: Tag, command: str, argument: str,
         mailer: Mailer | None) -> ReplyResult:
    try:
        draft = lifecycle.get(store, tag.digest_id)
    except ReviewError:
        return _ignore(mail, f"no draft #{tag.digest_id}", tag.digest_id)
    used_by = store.tokens.used_by(tag.token)
    if used_by is not None:
        if used_by == mail.message_id:
            return ReplyResult(mail.message_id, "duplicate", tag.digest_id, "this reply was already acted on")
        return _ignore(mail, f"the token of #{tag.digest_id} r{tag.revision} was already used (replay)", tag.digest_id)
    if tag.revision != draft.revision:
        return _ignore(mail, f"the token is for revision {tag.revision}; #{draft.id} is at revision {draft.revision} "
                             "(answer the newest review mail)", tag.digest_id)
    if draft.state not in lifecycle.OPEN:
        return _ignore(mail, f"#{draft.id} is already {draft.state}", tag.digest_id)
    if command == "unknown":
        return _ignore(mail, "no approve, reject REASON or Markdown found at the top of the reply", tag.digest_id)
    actor = mail.from_addr.strip().lower()
    if command == "done":  # closes an action, not the draft: the token stays good for the answer to come
        return _close_action(store, mail, tag, argument, actor)
    try:
        with store.transaction() as tx:
            tx.tokens.use(tag.token, mail.message_id, now())
            _apply(store, tx, tag, command, argument, actor)
    except (ReviewError, StoreConflict) as exc:
        reason = str(exc) if isinstance(exc, ReviewError) else "the token was used meanwhile"
        return _ignore(mail, reason, tag.digest_id)
    log.info("#%d r%d %s by %s (email)", tag.digest_id, tag.revision, _PAST[command], actor)
    if command == "edit":
        _review_again(store, settings, tag.digest_id, actor, mailer)
    return ReplyResult(mail.message_id, _PAST[command], tag.digest_id, argument[:200] if command == "reject" else "")


_PAST = {"approve": "approved", "reject": "rejected", "edit": "edited"}


def _close_action(store: Store, mail: Mail, tag: Tag, argument: str, actor: str) -> ReplyResult:
    number, _, note = argument.partition(" ")
    try:
        closed = close_action(store, int(number), by=actor, via="email", at=now(), note=note, ref=mail.message_id)
    except ReviewError as exc:  # no such open action: nothing changes, and the chair is told
        return _ignore(mail, str(exc), tag.digest_id)
    return ReplyResult(mail.message_id, "closed", tag.digest_id, f"action #{closed.id}")


def _apply(store: Store, tx: Transaction, tag: Tag, command: str, argument: str, actor: str) -> None:
    if command == "approve":
        lifecycle.approve(store, tag.digest_id, actor, "email", revision_seen=tag.revision, tx=tx)
    elif command == "reject":
        lifecycle.reject(store, tag.digest_id, actor, "email", argument or "(no reason given)",
                         revision_seen=tag.revision, tx=tx)
    else:
        lifecycle.edit(store, tag.digest_id, argument, actor, "email", revision_seen=tag.revision, tx=tx)


def _review_again(store: Store, settings: Settings, digest_id: int, actor: str, mailer: Mailer | None) -> None:
    """After an edit by mail the chair gets the new revision to approve."""
    try:
        request_review(store, settings, digest_id, actor=actor, via="email", mailer=mailer)
    except DigestbotError as exc:
        log.warning("#%d was edited by mail, but the new review mail could not be sent: %s", digest_id, exc)


def parse_command(body: str) -> tuple[str, str]:
    """("approve", ""), ("reject", reason), ("edit", markdown), ("done", "ID note") or ("unknown", "")."""
    text = _own_text(body)
    lines = text.splitlines()
    first = lines[0].strip() if lines else ""
    if _APPROVE.fullmatch(first):
        return "approve", ""
    rejected = _REJECT.fullmatch(first)
    if rejected:
        rest = [line for line in lines[1:] if not line.startswith(">")]
        return "reject", " ".join(" ".join([rejected.group(1), *rest]).split())
    done = _DONE.fullmatch(first)
    if done:
        return "done", " ".join([done.group(1), *done.group(2).split()])
    if first.lower() == "edit":
        return ("edit", "\n".join(lines[1:]).strip("\n") + "\n") if len(lines) > 1 else ("unknown", "")
    if (first.startswith("#") or first == "---") and len(text) <= MAX_EDIT_CHARS:
        return "edit", text
    return "unknown", ""


def _own_text(body: str) -> str:
    """What the replier wrote: without the quoted original, attribution and signature."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for index, line in enumerate(lines):
        if line == "-- " or _ATTRIBUTION.match(line.strip()):
            lines = lines[:index]
            break
    while lines and (not lines[0].strip() or lines[0].startswith(">")):
        lines.pop(0)
    while lines and (not lines[-1].strip() or lines[-1].startswith(">")):
        lines.pop()
    return "\n".join(lines) + ("\n" if lines else "")


def dkim_pass(raw: bytes, from_addr: str, dnsfunc: DnsFunc | None = None) -> bool:
    """A valid DKIM signature by the From domain (or a parent of it)."""
    try:
        import dkim
    except ImportError:
        raise ConfigError("review.require_dkim needs dkimpy: pip install 'digestbot[dkim]'") from None
    domain = address_domain(from_addr)
    try:
        checker = dkim.DKIM(raw)
        count = sum(1 for name, _value in checker.headers if name.lower() == b"dkim-signature")
    except Exception:  # noqa: BLE001 - an unparsable message simply has no DKIM pass
        return False
    for idx in range(min(count, 5)):
        try:
            ok = checker.verify(idx=idx, dnsfunc=dnsfunc) if dnsfunc else checker.verify(idx=idx)
        except Exception:  # noqa: BLE001 - dkimpy raises for bad keys, DNS failures, bad tags
            continue
        signer = (checker.domain or b"").decode("ascii", "replace").lower()
        if ok and domain and (domain == signer or domain.endswith("." + signer)):
            return True
    return False
