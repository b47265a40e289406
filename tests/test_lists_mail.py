"""Many lists and the bot's mailbox: an unsubscribe leaves the list it names; one poll serves every list's draft.

End to end on the Dovecot and SMTP fixtures: digests really sent, unsubscribe
requests delivered to the bot's INBOX and read by `digestbot poll`, drafts run
by `digestbot run --once` through a proxy that counts IMAP connections.
"""

from __future__ import annotations

import email.policy
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from imapclient import IMAPClient

from bot.delivery.send import send_approved
from bot.review import lifecycle
from bot.review.roster import add, members
from bot.review.tokens import find_unsubscribe_token, unsubscribe_token
from bot.schedule.jobs import JobRun, Transports, live_jobs
from bot.settings import Settings, load_settings
from bot.store.database import Store, open_store
from tests.helpers.dovecot import Dovecot, Proxy, write_config
from tests.helpers.mailfactory import make_raw
from tests.helpers.reviewkit import SECRET, SECRET_ENV, make_digest, notices, only, review_mails, text_of
from tests.helpers.smtp_server import SmtpServer

ROOT = Path(__file__).parent.parent
BOT = "digestbot@example.org"
BOB, CARLA = "bob@example.net", "carla@example.com"


def digestbot(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DIGESTBOT_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "bot.cli.main", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def lists_config(tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpServer, names: list[str], *, port: int = 0,
                 extra: str = "", last_list_extra: str = "") -> Path:
    with dovecot.client() as client:
        for name in names:
            client.create_folder(f"Lists/{name}")
    config = write_config(tmp_path / "c.toml", dovecot, port=port or None)  # [source] folders: INBOX, the bot's
    config.write_text(config.read_text() + (
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_server.port}\ntls = "none"\nfrom_address = "{BOT}"\n'
        f'mode = "roster"\ntimeout = 5.0\n[review]\nsecret_env = "{SECRET_ENV}"\n{extra}') + "".join(
        f'[[lists]]\nname = "{name}"\naddress = "{name}@lists.example.org"\nfolders = ["Lists/{name}"]\n'
        f'chair = "Chair {name}"\nchair_address = "chair-{name}@example.org"\n' for name in names)
        + last_list_extra)
    return config


def subscribed(store: Store, name: str) -> list[str]:
    return [m.address for m in members(store.for_list(name))]


def send_digest(store: Store, view: Settings) -> None:
    own = store.for_list(view.store_list)
    draft = lifecycle.store_draft(own, view, make_digest(title=f"{view.list.name} weekly"), "chair", "cli")
    lifecycle.approve(own, draft.id, "chair", "cli")
    send_approved(own, view)


def request(subject: str, *, sender: str = BOB, to: str = BOT, in_reply_to: str = "") -> bytes:
    """What an unsubscribe button (or a subscriber by hand) mails to the bot."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = make_msgid(domain="example.net")
    if in_reply_to:
        msg["In-Reply-To"] = msg["References"] = in_reply_to
    msg.set_content("Please take me off.\n")
    return msg.as_bytes()


def mailto_subject(msg: EmailMessage) -> tuple[str, str]:
    target, _, query = str(msg["List-Unsubscribe"]).replace("\n", "").replace(" ", "").strip("<>").partition(
        "?subject=")
    return target.removeprefix("mailto:"), unquote(query)


def polled(config: Path) -> str:
    """What the poll did with the bot's INBOX (the lists' folders have nothing new)."""
    done = digestbot("--config", str(config), "poll")
    assert done.returncode == 0, done.stderr
    return done.stdout.split(";")[0]


# -- 1. an unsubscribe leaves the list it names ----------------------------------------------------


def test_the_unsubscribe_button_of_a_lists_digest_leaves_that_list_only(
        dovecot: Dovecot, smtp_server: SmtpServer, review_secret: str, tmp_path: Path) -> None:
    """Bob is on alpha and beta; the button of beta's digest takes him off beta, and he still gets alpha's."""
    config = lists_config(tmp_path, dovecot, smtp_server, ["alpha", "beta"])
    settings = load_settings(config)
    store = open_store(settings.store_url, "alpha")
    try:
        for name, people in (("alpha", [BOB]), ("beta", [BOB, CARLA])):
            for address in people:
                add(store.for_list(name), address)
        for view in settings.lists:
            send_digest(store, view)
        to_bob = dict(zip(("alpha", "beta"), (got.message for got in smtp_server.to(BOB)), strict=True))  # sent so
        target, subject = mailto_subject(to_bob["beta"])
        assert target == BOT and subject.startswith("unsubscribe ") and subject.endswith(" from beta")
        assert mailto_subject(to_bob["alpha"])[1] != subject  # each list its own token
        dovecot.deliver("INBOX", [request(subject)])  # the button mails the mailto's subject

        assert polled(config) == "INBOX: 0 new (0 already stored), last UID 1, 1 to the bot (1 unsubscribed)"
        assert subscribed(store, "alpha") == [BOB] and subscribed(store, "beta") == [CARLA]
        # A token of beta cannot take Bob off alpha, even if the mail says alpha.
        dovecot.deliver("INBOX", [request(subject.replace(" from beta", " from alpha"))])
        assert polled(config).endswith("1 to the bot (1 not-review)")
        assert subscribed(store, "alpha") == [BOB]
    finally:
        store.close()


def test_an_address_token_leaves_the_list_the_mail_names_and_asks_when_nothing_does(
        dovecot: Dovecot, smtp_server: SmtpServer, review_secret: str, tmp_path: Path) -> None:
    """A token over the address alone (a digest sent before lists had their own): the mail decides."""
    config = lists_config(tmp_path, dovecot, smtp_server, ["alpha", "beta", "gamma"],
                          last_list_extra='[lists.smtp]\nunsubscribe_address = "leave-gamma@example.org"\n')
    settings = load_settings(config)
    assert settings.for_list("gamma").smtp.unsubscribe_address == "leave-gamma@example.org"
    bare = unsubscribe_token(SECRET, BOB)
    store = open_store(settings.store_url, "alpha")
    try:
        for name in ("alpha", "beta", "gamma"):
            add(store.for_list(name), BOB)
        add(store.for_list("beta"), CARLA)
        send_digest(store, settings.for_list("alpha"))
        alpha_digest = str(only(smtp_server.to(BOB)).message["Message-ID"])
        smtp_server.handler.received.clear()

        # Nothing says which list: nobody leaves anything, and Bob (not the From) is asked.
        dovecot.deliver("INBOX", [request(f"unsubscribe {bare}", sender="mallory@example.net")])
        assert polled(config).endswith("1 to the bot (1 asked-which-list)")
        assert all(subscribed(store, name)[:1] == [BOB] for name in ("alpha", "beta", "gamma"))
        [asked] = notices(smtp_server)
        assert (asked["To"], asked["Subject"]) == (BOB, "[digestbot] which list to leave?")
        lines = {line.split(":")[0].strip(): line for line in text_of(asked).splitlines() if " subject: " in line}
        assert set(lines) == {"alpha", "beta", "gamma"}
        assert "to leave-gamma@example.org," in lines["gamma"]  # that list's own unsubscribe address
        assert find_unsubscribe_token(text_of(asked)[:200]) is None  # an auto-reply quoting it has no token on top

        # Bob follows the notice for beta; a reply to alpha's digest; a mail to gamma's own address.
        follow = lines["beta"].split(" subject: ", 1)[1]
        dovecot.deliver("INBOX", [request(follow)])
        assert polled(config).endswith("1 to the bot (1 unsubscribed)")
        assert subscribed(store, "beta") == [CARLA] and subscribed(store, "alpha") == [BOB]
        dovecot.deliver("INBOX", [request(f"Re: unsubscribe {bare}", in_reply_to=alpha_digest),
                                  request(f"unsubscribe {bare}", to="leave-gamma@example.org")])
        assert polled(config).endswith("2 to the bot (2 unsubscribed)")
        assert subscribed(store, "alpha") == [] and subscribed(store, "gamma") == []

        # Carla is on one list: her bare token needs no naming; naming a list she is not on changes nothing.
        carla = unsubscribe_token(SECRET, CARLA)
        dovecot.deliver("INBOX", [request(f"unsubscribe {carla} alpha", sender=CARLA)])
        assert polled(config).endswith("1 to the bot (1 asked-which-list)")
        assert subscribed(store, "beta") == [CARLA] and notices(smtp_server)[-1]["To"] == CARLA
        dovecot.deliver("INBOX", [request(f"unsubscribe {carla}", sender=CARLA)])
        assert polled(config).endswith("1 to the bot (1 unsubscribed)")
        assert subscribed(store, "beta") == []
        assert len(notices(smtp_server)) == 2  # the two questions, nothing more
    finally:
        store.close()


# -- 2. one poll for every list's draft --------------------------------------------------------------


def _due_now() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def test_run_once_drafting_many_lists_logs_in_to_imap_once(dovecot: Dovecot, smtp_server: SmtpServer,
                                                          review_secret: str, tmp_path: Path) -> None:
    from bot.schedule.runner import run

    names = [f"l{i}" for i in range(5)]
    due = _due_now()
    last_week = due - timedelta(days=7) + timedelta(minutes=1)
    proxy = Proxy(dovecot.port)
    try:
        config = lists_config(tmp_path, dovecot, smtp_server, names, port=proxy.port, extra=(
            '[schedule]\npoll_minutes = 525600\ndraft_cron = "0 * * * *"\nremind_cron = "0 0 1 1 *"\n'
            'send_cron = "0 0 1 1 *"\n'))
        for i, name in enumerate(names):
            dovecot.deliver(f"Lists/{name}", [make_raw(i + 1, subject=f"Topic of {name}", when=last_week)])
        settings = load_settings(config)
        assert run(settings, once=True, jobs={}, now=due - timedelta(hours=2)) == []  # writes the schedule down
        assert proxy.connections == 0

        done = digestbot("--config", str(config), "run", "--once")

        assert done.returncode == 0, done.stderr
        assert proxy.connections == 1 and proxy.commands.count("LOGIN") <= 1
        assert done.stderr.count("after this run's due time") == len(names) - 1  # the others used the first's poll
        reviews = {str(m["To"]): m for m in review_mails(smtp_server)}
        assert set(reviews) == {f"chair-{name}@example.org" for name in names}
        assert all(f"Topic of {name}" in text_of(reviews[f"chair-{name}@example.org"]) for name in names)
    finally:
        proxy.close()


def test_a_draft_due_after_the_last_poll_began_polls_again(dovecot: Dovecot, smtp_server: SmtpServer,
                                                           review_secret: str, tmp_path: Path) -> None:
    """The shared poll never makes a draft older than its due time: one due after it began polls anew."""
    logins: list[Any] = []

    def counting(*args: Any, **kwargs: Any) -> IMAPClient:
        logins.append(args)
        return IMAPClient(*args, **kwargs)

    due = _due_now()
    last_week = due - timedelta(days=7) + timedelta(minutes=1)
    settings = load_settings(lists_config(tmp_path, dovecot, smtp_server, ["alpha", "beta"]))
    dovecot.deliver("Lists/alpha", [make_raw(1, subject="Alpha plans", when=last_week)])
    dovecot.deliver("Lists/beta", [make_raw(2, subject="Beta plans", when=last_week)])
    jobs = live_jobs(Transports(imap_client=counting))
    store = open_store(settings.store_url, "alpha")

    def draft(name: str, at: datetime) -> str:
        view = settings.for_list(name)
        return jobs["draft"](JobRun(view, store.for_list(name), "draft", at, datetime.now(UTC), config=settings))

    try:
        assert draft("alpha", due).startswith("fetched: INBOX: nothing new; Lists/alpha: 1 new")
        assert draft("beta", due).startswith("fetched: by the poll begun ")  # beta's mail came with alpha's poll
        assert len(logins) == 1
        dovecot.deliver("Lists/beta", [make_raw(3, subject="Beta late news", when=last_week)])
        later = datetime.now(UTC) + timedelta(seconds=1)  # due after that poll began: it may have missed mail
        assert "Lists/beta: 1 new" in draft("beta", later)
        assert len(logins) == 2
        assert "Beta late news" in text_of(review_mails(smtp_server)[-1])
    finally:
        store.close()
