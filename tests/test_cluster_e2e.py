"""Two `digestbot run --once` sharing one PostgreSQL store draft real lists from Dovecot: each list once.

The live jobs end to end: IMAP from the Dovecot fixture, the store on the
PostgreSQL fixture, review mail to aiosmtpd; the two processes start together
over the same due drafts (schedule.engine = "procrastinate").
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.settings import load_settings
from tests.helpers.dovecot import Dovecot, write_config
from tests.helpers.mailfactory import make_raw
from tests.helpers.reviewkit import SECRET_ENV, review_mails
from tests.helpers.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
LISTS = 8


def test_two_instances_draft_each_list_once_from_dovecot(dovecot: Dovecot, smtp_server: SmtpServer,
                                                         review_secret: str, postgres_url: str,
                                                         tmp_path: Path) -> None:
    from bot.schedule.runner import run
    from bot.store.database import open_store

    due = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    last_week = due - timedelta(days=7) + timedelta(minutes=1)  # in the week the hourly draft due now digests
    for n in range(LISTS):
        dovecot.deliver(f"Lists/l{n}", [make_raw(10 + n, subject=f"Plans of list {n}", when=last_week),
                                        make_raw(1, subject="Cross posted release", when=last_week)])
    config = write_config(tmp_path / "digestbot.toml", dovecot)
    entries = "".join(f'[[lists]]\nname = "l{n}"\naddress = "l{n}@lists.example.org"\nfolders = ["Lists/l{n}"]\n'
                      f'chair = "Chair {n}"\nchair_address = "chair{n}@example.org"\n\n' for n in range(LISTS))
    config.write_text(
        config.read_text().replace('folders = ["INBOX"]\n', "").replace('path = "store.sqlite3"',
                                                                          f'url = "{postgres_url}"')
        + f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_server.port}\ntls = "none"\n'
        'from_address = "digestbot@example.org"\ntimeout = 5.0\n'
        f'[review]\nsecret_env = "{SECRET_ENV}"\n'
        '[schedule]\nengine = "procrastinate"\nworker_timeout_seconds = 5\npoll_minutes = 525600\n'
        'draft_cron = "0 * * * *"\nremind_cron = "0 0 1 1 *"\nsend_cron = "0 0 1 1 *"\n\n' + entries)
    settings = load_settings(config)
    # A first start only writes the schedule down: from two hours ago, so that this hour's draft is due now.
    assert run(settings, once=True, jobs={}, now=due - timedelta(hours=2)) == []

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "bot.cli.main", "--config", str(config), "run", "--once"]
    both = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT) for _ in range(2)]
    for process in both:
        _out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err

    chairs = Counter(str(mail["To"]) for mail in review_mails(smtp_server))
    assert chairs == {f"chair{n}@example.org": 1 for n in range(LISTS)}
    store = open_store(settings.store_url, "l0")
    try:
        for n in range(LISTS):
            [draft] = store.for_list(f"l{n}").drafts.all()
            assert draft.state == "awaiting"
        counts = store.list_counts()
        assert counts == {f"l{n}": 2 for n in range(LISTS)}  # the cross-post is in every list, stored once
        assert store.counts()["messages"] == LISTS + 1
    finally:
        store.close()
