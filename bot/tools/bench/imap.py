"""Target 7: `digestbot poll` against mbsync on the same Dovecot, and as the folder grows.

The test fixture's Dovecot (tests/helpers/dovecot.py, so a checkout is needed) gets
the list's messages; mbsync pulls them into a Maildir, and `digestbot poll`
into a store (fetch, store and parse). Each is timed on its first sync and
on a later run that finds nothing new. A second folder ten times larger gets
its own store: its nothing-new poll must take no longer than the small one's
(flat as the folder grows).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.tools.bench import data
from bot.tools.bench.data import Plan
from bot.tools.bench.measure import run_command
from bot.tools.bench.report import Goal, Result, rated, skipped
from bot.tools.bench.traffic import VERSION

FIRST_SYNC_GOAL = Goal("<=", 1.5)  # at most 1.5 times mbsync's first sync of the same folder
NOTHING_NEW_GOAL = Goal("<=", 10)  # at most 10 times mbsync's nothing-new run
FLAT_GOAL = Goal("<=", 1.2)  # a folder ten times larger: no slower nothing-new poll
LARGE_FOLDER = "Archive"

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
        from tests.helpers.dovecot import Dovecot, dovecot_binary
    except ImportError:
        return [skipped("imap", "7. IMAP poll vs mbsync",
                        "needs a checkout (tests/helpers/dovecot.py): run from the repo")]
    mbsync = shutil.which("mbsync")
    try:
        dovecot_binary()
    except RuntimeError as exc:
        return [skipped("imap", "7. IMAP poll vs mbsync", str(exc))]
    if mbsync is None:
        return [skipped("imap", "7. IMAP poll vs mbsync", "mbsync is not installed (apt-get install isync; "
                        "`make bench` does it)")]
    dataset = data.generated(plan, "list", messages=plan.sizes.imap_messages)
    large = data.generated(plan, "list", messages=plan.sizes.imap_large_messages)
    server = Dovecot().start()
    try:
        server.deliver_files("INBOX", _raws(dataset.mbox))
        server.deliver_files(LARGE_FOLDER, _raws(large.mbox))
        _index(server, ("INBOX", LARGE_FOLDER))
        return [*_against_mbsync(plan, server, dataset, mbsync), _flatness(plan, server, large)]
    finally:
        server.cleanup()


def _against_mbsync(plan: Plan, server: Any, dataset: data.Dataset, mbsync: str) -> list[Result]:
    from tests.helpers.dovecot import write_config

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
    mbsync_first, poll_first = run_command(mbsync_argv), run_command(poll_argv, sample_tree=True)
    repeat = plan.sizes.cheap_repeat
    again = (min(run_command(mbsync_argv).seconds for _ in range(repeat)),
             min(run_command(poll_argv).seconds for _ in range(repeat)))
    note = (f"{dataset.stats.messages:,} generated messages (v{VERSION}), {dataset.stats.bytes / data.MB:.1f} MB, "
            f"local Dovecot on 127.0.0.1, no TLS; poll also stores and parses; peak RSS of the first sync: "
            f"mbsync {mbsync_first.max_rss_mb:.0f} MB, poll {poll_first.max_rss_mb:.0f} MB (process tree "
            f"{poll_first.tree_pss_mb:.0f} MB PSS)")
    return [
        rated("imap-first", "7. IMAP first sync", ("mbsync", mbsync_first.seconds),
              ("digestbot poll", poll_first.seconds), FIRST_SYNC_GOAL, note=note, invert=True),
        rated("imap-nothing-new", "7. IMAP nothing-new poll", ("mbsync", again[0]), ("digestbot poll", again[1]),
              NOTHING_NEW_GOAL, invert=True),
    ]


def _flatness(plan: Plan, server: Any, large: data.Dataset) -> Result:
    """The nothing-new poll of a folder ten times larger, against the same poll of the small folder."""
    from tests.helpers.dovecot import write_config

    folder = plan.work / "imap"
    small_argv = [*data.digestbot(), "-q", "-c", str(folder / "digestbot.toml"), "poll"]  # synced already
    config = write_config(folder / "large.toml", server, store=str(folder / "large.sqlite3"),
                          folders=[LARGE_FOLDER])
    large_argv = [*data.digestbot(), "-q", "-c", str(config), "poll"]
    first = run_command(large_argv)
    small: list[float] = []
    big: list[float] = []
    for _ in range(2 * plan.sizes.cheap_repeat):  # interleaved, so drift hits both alike; noisy: more runs
        small.append(run_command(small_argv).seconds)
        big.append(run_command(large_argv).seconds)
    note = (f"{large.stats.messages:,} messages ({large.stats.bytes / data.MB:.0f} MB) in one folder vs "
            f"{plan.sizes.imap_messages:,}; its first sync took {first.seconds:.1f} s")
    return rated("imap-flat", "7. IMAP nothing-new poll, 10× the folder",
                 (f"{plan.sizes.imap_messages:,} messages", min(small)),
                 (f"{large.stats.messages:,} messages", min(big)), FLAT_GOAL, note=note, invert=True)


def _index(server: Any, folders: tuple[str, ...]) -> None:
    """Let Dovecot index the delivered files first: whichever client came first would pay for it."""
    with server.client() as client:
        for folder in folders:
            client.select_folder(folder, readonly=True)
            client.unselect_folder()


def _raws(mbox: Path) -> Iterator[bytes]:
    from bot.mail.source import MboxSource

    return (mail.raw for mail in MboxSource(mbox))
