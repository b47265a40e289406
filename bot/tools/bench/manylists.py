"""Target 8: one instance, many lists: a poll of 10,000 folders against mbsync, and the week's drafting.

Dovecot (tests/helpers/dovecot.py, so a checkout is needed) holds one folder
per list, each with that list's week of generated mail (a few messages, and one
list in 500 a busy week of about 90). A config of as many `[[lists]]` entries
is polled by `digestbot poll` (first sync, then a pass that finds nothing new)
and by mbsync over the same folders. Then the week is drafted as an operator's
scheduled run does it: `run --once` (the runner, with a fixed clock, in its own
process) at the draft time, every list's review mail going to a local SMTP sink.
Its CPU time counts against an hour, and its peak RSS against the same pass
over a tenth of the lists (memory must not grow with the number of lists).
"""

from __future__ import annotations

import json
import os
import pwd
import random
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.tools.bench.data import Plan, digestbot
from bot.tools.bench.mail import escape_from, mbox_from_line
from bot.tools.bench.measure import Run, run_command
from bot.tools.bench.report import Goal, Result, rated, skipped, table
from bot.tools.bench.threads import KIND_WEIGHTS, KINDS, ThreadPlan, build_thread, make_people
from bot.tools.bench.traffic import VERSION

NAME = "8. many lists"
NOTHING_NEW_GOAL = Goal("<=", 1.5)  # at most 1.5 times mbsync's steady (nothing-new) pass
CPU_GOAL = Goal("<=", 1.0)  # the week's drafting: at most an hour of CPU
CPU_BUDGET = 3600.0
MEMORY_GOAL = Goal("<=", 1.2)  # peak RSS drafting all the lists against a tenth of them
LAYOUT = 1  # bump when the per-list traffic below changes (invalidates the cache)
# Lists in a full run, and the smaller run the memory is compared with.
LISTS = {"full": (10_000, 1_000), "quick": (2_000, 200), "tiny": (20, 10)}
BUSY_EVERY = 500  # one list in 500 has a busy week
BUSY_THREADS = (40, 25, 12, 6, 3, 1)
WEEK = datetime(2024, 6, 17, tzinfo=UTC)  # the Monday of the drafted week
DRAFT_TIME = WEEK + timedelta(days=8, hours=8)  # the following Tuesday 08:00: schedule.draft_cron
BEFORE = WEEK + timedelta(days=7, hours=9)  # a first pass on Monday: the jobs are registered

MBSYNC = """\
IMAPAccount bench
Host {host}
Port {port}
User {user}
PassCmd "cat {secret}"
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns list-*
Create Near
Sync Pull
SyncState *
"""

# `digestbot run --once` with the clock at argv[2] (the CLI has no clock option): what the scheduler runs.
DRIVER = """
import logging, sys
from datetime import datetime
from bot.schedule.runner import run
from bot.settings import load_settings
logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
failed = run(load_settings(sys.argv[1]), once=True, now=datetime.fromisoformat(sys.argv[2]))
print(len(failed), " ".join(failed[:3]))
"""


@dataclass(frozen=True, slots=True)
class Traffic:
    mbox: Path  # every list's messages, list after list
    counts: list[int]  # messages of each list, in order

    @property
    def messages(self) -> int:
        return sum(self.counts)


def folder(index: int) -> str:
    return f"list-{index:05d}"


def run(plan: Plan) -> list[Result]:
    try:
        from tests.helpers.dovecot import Dovecot, dovecot_binary
    except ImportError:
        return [skipped("manylists", NAME, "needs a checkout (tests/helpers/dovecot.py): run from the repo")]
    mbsync = shutil.which("mbsync")
    try:
        dovecot_binary()
    except RuntimeError as exc:
        return [skipped("manylists", NAME, str(exc))]
    if mbsync is None:
        return [skipped("manylists", NAME, "mbsync is not installed (apt-get install isync; `make bench` does it)")]
    many, few = LISTS[plan.mode]
    traffic = generated(plan, many)
    work = plan.work / "manylists"
    work.mkdir(exist_ok=True)
    server = Dovecot().start()
    sink = _Sink().start()
    try:
        _log(f"{many:,} folders: {traffic.messages:,} messages into Dovecot")
        _deliver(server, traffic)
        _index(server, len(traffic.counts))
        _log("indexed; mbsync and digestbot poll")
        big = _config(work / "all.toml", server, sink, many)
        small = _config(work / "tenth.toml", server, sink, few)
        rows = _against_mbsync(plan, server, work, big, traffic, mbsync)
        _log("the poll's rows:\n" + table(rows) + "\n" + rows[0].note)
        run_command([*digestbot(), "-q", "-c", str(small), "poll"], timeout=3600)  # the tenth's own store
        _log("drafting the week")
        try:
            return [*rows, *_drafting(big, small, traffic, sink, many, few)]
        except RuntimeError as exc:  # the poll's rows stand
            return [*rows, Result("manylists-draft", f"{NAME}: the week's drafting (error)", "—", "—", None, "—",
                                  False, f"error: {exc}")]
    finally:
        sink.stop()
        server.cleanup()


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] manylists: {message}", file=sys.stderr, flush=True)


# -- traffic --------------------------------------------------------------------


def generated(plan: Plan, lists: int) -> Traffic:
    """Every list's week (cached): one mbox, list after list, and each list's message count."""
    path = plan.cache / f"manylists-v{VERSION}.{LAYOUT}-s{plan.seed}-n{lists}.mbox"
    meta = path.with_suffix(".json")
    if not (path.exists() and meta.exists()):
        plan.cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        counts = []
        rng = random.Random(plan.seed)
        people = make_people(rng, 400)
        weights = [1 / (rank + 1) ** 1.1 for rank in range(len(people))]
        with partial.open("wb") as out:
            for index in range(lists):
                threads = _threads(plan.seed, index)
                mails = [mail for thread in threads for mail in build_thread(thread, people, weights)]
                counts.append(len(mails))
                for env, raw in mails:
                    out.write(mbox_from_line(env) + escape_from(raw) + (b"\n" if raw.endswith(b"\n") else b"\n\n"))
        meta.write_text(json.dumps(counts))
        partial.rename(path)
    return Traffic(path, json.loads(meta.read_text()))


def _threads(seed: int, index: int) -> list[ThreadPlan]:
    """A list's threads of the week: one or two short ones; a busy week for one list in BUSY_EVERY."""
    rng = random.Random(f"{seed}:{index}")
    busy = index % BUSY_EVERY == BUSY_EVERY // 2
    sizes = BUSY_THREADS if busy else tuple(rng.choice((1, 1, 2, 2, 3, 4)) for _ in range(rng.choice((1, 1, 2))))
    plans = []
    for number, size in enumerate(sizes):
        start = WEEK + timedelta(days=rng.randint(0, 3), hours=rng.uniform(7, 19))
        kind = rng.choices(KINDS, KIND_WEIGHTS)[0] if size > 1 else "question"
        plans.append(ThreadPlan(index * 100 + number, kind, size, start, rng.getrandbits(64)))
    return plans


def _mails(traffic: Traffic) -> Iterator[tuple[int, bytes]]:
    from bot.mail.source import MboxSource

    lists = (index for index, count in enumerate(traffic.counts) for _ in range(count))
    for index, mail in zip(lists, MboxSource(traffic.mbox), strict=True):
        yield index, mail.raw


def _deliver(server: Any, traffic: Traffic) -> None:
    """Each list's messages straight into its Maildir++ folder (an IMAP CREATE and APPEND each is minutes)."""
    from tests.helpers.dovecot import MAIL_USER

    server.create_folder("INBOX")  # Dovecot makes the user's Maildir
    account = pwd.getpwnam(MAIL_USER)
    root = server.base / "mail" / server.user
    for index in range(len(traffic.counts)):
        for sub in ("", "cur", "new", "tmp"):
            path = root / f".{folder(index)}" / sub
            path.mkdir()
            os.chown(path, account.pw_uid, account.pw_gid)
    for serial, (index, raw) in enumerate(_mails(traffic)):
        path = root / f".{folder(index)}" / "new" / f"1718582400.M{serial}P1.bench"
        path.write_bytes(raw)
        os.chown(path, account.pw_uid, account.pw_gid)


def _index(server: Any, lists: int) -> None:
    """Let Dovecot index every folder first: whichever client came first would pay for it."""
    from imapclient import IMAPClient

    with IMAPClient(server.host, server.port, ssl=False, timeout=600) as client:  # the first LIST reads every folder
        client.login(server.user, server.password)
        client.list_folders()
        for index in range(lists):
            client.select_folder(folder(index), readonly=True)
            client.unselect_folder()


def _config(path: Path, server: Any, sink: _Sink, lists: int) -> Path:
    """A config of `lists` [[lists]] entries, one folder each, on one store next to it."""
    secret = path.parent / "imap-password"
    secret.write_text(server.password + "\n")
    (path.parent / "review-secret").write_text("bench-review-secret-0123456789\n")
    head = f"""\
[store]
path = "{path.with_suffix('.sqlite3')}"

[source]
host = "{server.host}"
port = {server.port}
tls = "none"
username = "{server.user}"
password_file = "{secret}"
timeout = 30.0

[smtp]
host = "127.0.0.1"
port = {sink.port}
tls = "none"
from_address = "digestbot@example.org"

[review]
secret_file = "review-secret"

[digest]
min_messages = 1

[schedule]
timezone = "UTC"
draft_cron = "0 8 * * tue"
remind_cron = "0 9 * * fri"
send_cron = "0 12 * * fri"
"""
    entries = (f'[[lists]]\nname = "{folder(i)}"\naddress = "{folder(i)}@lists.example.org"\n'
               f'folders = ["{folder(i)}"]\nchair = "Chair {i}"\nchair_address = "chair-{i}@example.org"\n'
               for i in range(lists))
    path.write_text(head + "\n" + "\n".join(entries))
    return path


# -- the poll against mbsync ------------------------------------------------------------


def _against_mbsync(plan: Plan, server: Any, work: Path, config: Path, traffic: Traffic,
                    mbsync: str) -> list[Result]:
    rc = work / "mbsyncrc"
    rc.write_text(MBSYNC.format(host=server.host, port=server.port, user=server.user,
                                secret=work / "imap-password", maildir=work / "maildir"))
    (work / "maildir").mkdir(exist_ok=True)
    mbsync_argv = [mbsync, "-q", "-c", str(rc), "bench"]
    poll_argv = [*digestbot(), "-q", "-c", str(config), "poll"]
    mbsync_first, poll_first = run_command(mbsync_argv, timeout=3600), run_command(poll_argv, timeout=3600)
    mbsync_again: list[float] = []
    poll_again: list[Run] = []
    for _ in range(plan.sizes.repeat):  # interleaved, so drift hits both alike
        mbsync_again.append(run_command(mbsync_argv).seconds)
        poll_again.append(run_command(poll_argv))
    steady = min(poll_again, key=lambda r: r.seconds)
    lists = len(traffic.counts)
    note = (f"{lists:,} folders, {traffic.messages:,} generated messages (v{VERSION}; a few a list, one list in "
            f"{BUSY_EVERY} about 90), local Dovecot on 127.0.0.1, no TLS; poll also stores and parses; peak RSS "
            f"of the first sync: mbsync {mbsync_first.max_rss_mb:.0f} MB, poll {poll_first.max_rss_mb:.0f} MB; "
            f"CPU of the first sync: mbsync {mbsync_first.cpu_seconds:.1f} s, poll {poll_first.cpu_seconds:.1f} s; "
            f"nothing-new poll: {steady.cpu_seconds:.2f} s of CPU, {steady.max_rss_mb:.0f} MB peak RSS")
    return [
        rated("manylists-first", f"{NAME}: first sync, {lists:,} folders", ("mbsync", mbsync_first.seconds),
              ("digestbot poll", poll_first.seconds), None, note=note, invert=True),
        rated("manylists-nothing-new", f"{NAME}: nothing-new poll, {lists:,} folders", ("mbsync", min(mbsync_again)),
              ("digestbot poll", steady.seconds), NOTHING_NEW_GOAL, invert=True),
    ]


# -- the week's drafting ------------------------------------------------------------------


def _drafting(big: Path, small: Path, traffic: Traffic, sink: _Sink, many: int, few: int) -> list[Result]:
    """The scheduled pass that drafts every list's week, on all the lists and on a tenth of them."""
    runs: dict[int, Run] = {}
    for lists, config in ((few, small), (many, big)):
        first = _scheduled(config, BEFORE)  # registers the jobs: the first drafts are due at the next draft time
        _log(f"{lists:,} lists: the first pass (jobs registered) took {first.seconds:.1f} s; the draft pass")
        before = sink.count
        runs[lists] = run_command(_scheduled_argv(config, DRAFT_TIME), timeout=6 * 3600, sample_tree=True)
        _log(f"{lists:,} lists drafted in {runs[lists].seconds:.1f} s, {runs[lists].cpu_seconds:.1f} s of CPU, "
             f"peak RSS {runs[lists].max_rss_mb:.0f} MB")
        failed, _, examples = runs[lists].stdout.strip().partition(" ")
        if int(failed) or sink.count - before != lists:  # a figure of failing jobs is no figure
            errors = [line for line in runs[lists].stderr.splitlines() if "failed" in line][:2]
            raise RuntimeError(f"the pass over {lists:,} lists sent {sink.count - before:,} review mails; "
                               f"{failed} jobs failed ({examples}): {' | '.join(errors)[:600]}")
    whole = runs[many]
    note = (f"`run --once` at the draft time (Tuesday 08:00) with every list's draft due: {many:,} lists, "
            f"{sum(traffic.counts[:many]):,} messages in the week, one review mail each to a local SMTP sink; "
            f"{whole.seconds:.0f} s wall, {whole.cpu_seconds:.0f} s CPU ({1000 * whole.cpu_seconds / many:.1f} ms "
            f"of CPU a list; {few:,} lists: {1000 * runs[few].cpu_seconds / few:.1f} ms); peak RSS "
            f"{few:,} lists {runs[few].max_rss_mb:.0f} MB, {many:,} lists {whole.max_rss_mb:.0f} MB (process tree "
            f"{runs[few].tree_pss_mb:.0f} and {whole.tree_pss_mb:.0f} MB PSS)")
    return [
        rated("manylists-draft-cpu", f"{NAME}: the week's drafting, {many:,} lists, CPU",
              ("budget", CPU_BUDGET), ("run --once", whole.cpu_seconds), CPU_GOAL, note=note, invert=True),
        rated("manylists-draft-memory", f"{NAME}: drafting peak RSS, {many:,} vs {few:,} lists",
              (f"{few:,} lists", runs[few].max_rss_mb), (f"{many:,} lists", whole.max_rss_mb), MEMORY_GOAL,
              unit="MB", invert=True),
    ]


def _scheduled_argv(config: Path, now: datetime) -> list[str]:
    return [sys.executable, "-c", DRIVER, str(config), now.isoformat()]


def _scheduled(config: Path, now: datetime) -> Run:
    return run_command(_scheduled_argv(config, now), timeout=3600)


class _Sink:
    """A local SMTP server that takes every message and only counts them (aiosmtpd, as in the tests)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        from tests.helpers.dovecot import free_port

        self.count = 0
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, _server: Any, _session: Any, _envelope: Any) -> str:  # aiosmtpd's name
        self.count += 1
        return "250 OK"

    def start(self) -> _Sink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
