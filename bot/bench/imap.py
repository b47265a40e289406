"""Target 7 (the IMAP engineer's): `digestbot poll` against mbsync on the same Dovecot.

The test fixture's Dovecot (tests/dovecot.py, so a checkout is needed) gets
the list's messages; mbsync pulls them into a Maildir, and `digestbot poll`
into a store (fetch, store and parse). Each is timed on its first sync and
on a later run that finds nothing new. The goals are None ("info") until
the IMAP work sets them here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.bench import data
from bot.bench.data import Plan
from bot.bench.measure import run_command
from bot.bench.report import Goal, Result, rated, skipped
from bot.bench.traffic import VERSION

FIRST_SYNC_GOAL: Goal | None = None  # e.g. Goal("<=", 3): at most 3 times mbsync's first sync
NOTHING_NEW_GOAL: Goal | None = None

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

Channel bench
Far :remote:INBOX
Near :local:INBOX
Create Near
Sync Pull
SyncState *
"""


def run(plan: Plan) -> list[Result]:
    try:
        from tests.dovecot import Dovecot, dovecot_binary, write_config
    except ImportError:
        return [skipped("imap", "7. IMAP poll vs mbsync", "needs a checkout (tests/dovecot.py): run from the repo")]
    mbsync = shutil.which("mbsync")
    try:
        dovecot_binary()
    except RuntimeError as exc:
        return [skipped("imap", "7. IMAP poll vs mbsync", str(exc))]
    if mbsync is None:
        return [skipped("imap", "7. IMAP poll vs mbsync", "mbsync is not installed (apt-get install isync)")]
    dataset = data.generated(plan, "list", messages=plan.sizes.imap_messages)
    server = Dovecot().start()
    try:
        server.deliver_files("INBOX", _raws(dataset.mbox))
        folder = plan.work / "imap"
        folder.mkdir(exist_ok=True)
        config = write_config(folder / "digestbot.toml", server, store=str(folder / "store.sqlite3"))
        secret = folder / "imap-password"  # written by write_config
        rc = folder / "mbsyncrc"
        rc.write_text(MBSYNC.format(host=server.host, port=server.port, user=server.user, secret=secret,
                                    maildir=folder / "maildir"))
        (folder / "maildir").mkdir(exist_ok=True)
        mbsync_argv = [mbsync, "-q", "-c", str(rc), "bench"]
        poll_argv = [*data.digestbot(), "-q", "-c", str(config), "poll"]
        mbsync_first, poll_first = run_command(mbsync_argv), run_command(poll_argv)
        first = (mbsync_first.seconds, poll_first.seconds)
        repeat = plan.sizes.cheap_repeat
        again = (min(run_command(mbsync_argv).seconds for _ in range(repeat)),
                 min(run_command(poll_argv).seconds for _ in range(repeat)))
    finally:
        server.cleanup()
    note = (f"{dataset.stats.messages:,} generated messages (v{VERSION}), {dataset.stats.bytes / data.MB:.1f} MB, "
            f"local Dovecot on 127.0.0.1, no TLS; poll also stores and parses; peak RSS of the first sync: "
            f"mbsync {mbsync_first.max_rss_mb:.0f} MB, poll {poll_first.max_rss_mb:.0f} MB (process tree "
            f"{poll_first.tree_pss_mb:.0f} MB PSS)")
    return [
        rated("imap-first", "7. IMAP first sync", ("mbsync", first[0]), ("digestbot poll", first[1]),
              FIRST_SYNC_GOAL, note=note, invert=True),
        rated("imap-nothing-new", "7. IMAP nothing-new poll", ("mbsync", again[0]), ("digestbot poll", again[1]),
              NOTHING_NEW_GOAL, invert=True),
    ]


def _raws(mbox: Path) -> list[bytes]:
    from bot.source import MboxSource

    return [mail.raw for mail in MboxSource(mbox)]
