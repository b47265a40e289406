"""Many lists, one instance: [[lists]] in the config, one store, --list on the command line, one poll."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings
from tests.helpers.dovecot import Dovecot, Proxy, write_config
from tests.helpers.mailfactory import make_raw
from tests.helpers.reviewkit import SECRET_ENV, notices, reply, review_mails, text_of
from tests.helpers.smtp_server import SmtpServer

ROOT = Path(__file__).parent.parent
TWO_LISTS = """
[[lists]]
name = "alpha"
address = "alpha@lists.example.org"
folders = ["Lists/alpha"]
chair = "Ann Chair"
chair_address = "ann@example.org"

[[lists]]
name = "beta"
address = "beta@lists.example.org"
folders = ["Lists/beta"]
chair = "Bob Chair"
chair_address = "bob@example.org"
[lists.digest]
min_messages = 2
title = "Beta minutes: {date}"
"""


def digestbot(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DIGESTBOT_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "bot.cli.main", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "digestbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> str:
    """The one-line ConfigError that loading `text` raises, without the file name it starts with."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    return message.removeprefix(f"{path}: ")


# -- the config ----------------------------------------------------------------------------


def test_a_single_list_config_is_its_one_list(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, '[list]\nname = "xen-devel"\n[source]\nfolders = ["INBOX", "x"]\n'))
    assert settings.lists == (settings,) and settings.for_list(None) is settings
    assert settings.for_list("xen-devel") is settings and settings.list_names == ("xen-devel",)
    # Its rows are under the one key of a single-list store, whatever the list is named (renaming keeps them).
    assert settings.store_list == "list" and settings.lists_of_folder() == {"INBOX": ("list",), "x": ("list",)}


def test_each_list_entry_is_a_whole_single_list_view(tmp_path: Path) -> None:
    text = ('[digest]\nmin_messages = 1\nsummary_words = 50\n[publish]\ndir = "site"\n'
            '[smtp]\nfrom_address = "bot@example.org"\n' + TWO_LISTS)
    settings = load_settings(write(tmp_path, text))
    alpha, beta = settings.lists
    assert settings.list_names == ("alpha", "beta") and settings.for_list("beta") is beta
    assert (alpha.list.name, alpha.list.address, alpha.source.folders) == (
        "alpha", "alpha@lists.example.org", ("Lists/alpha",))
    assert (alpha.digest.chair, alpha.digest.chair_address, alpha.digest.min_messages) == ("Ann Chair",
                                                                                          "ann@example.org", 1)
    assert (beta.digest.min_messages, beta.digest.title, beta.digest.summary_words) == (2, "Beta minutes: {date}", 50)
    assert beta.smtp.from_address == "bot@example.org" and beta.lists == (beta,)  # a view is one list
    assert (alpha.store_list, beta.store_list) == ("alpha", "beta")
    assert (alpha.publish.dir, beta.publish.dir) == (str(tmp_path / "site" / "alpha"), str(tmp_path / "site" / "beta"))
    assert settings.source.folders == ("Lists/alpha", "Lists/beta")  # what one poll of the config reads
    shared = load_settings(write(tmp_path, '[[lists]]\nname = "a"\nfolders = ["x", "both"]\n'
                                           '[[lists]]\nname = "b"\nfolders = ["both"]\n[[lists]]\nname = "c"\n'))
    assert shared.lists_of_folder() == {"x": ("a",), "both": ("a", "b"), "c": ("c",)}  # folders default: [name]


@pytest.mark.parametrize(("text", "message"), [
    ('[[lists]]\nname = "a"\n[[lists]]\nname = "a"\n', "list 'a' (lists[1]): name: already the name of lists[0]"),
    ('[[lists]]\naddress = "a@example.org"\n', "lists[0]: missing required key 'name'"),
    ('[[lists]]\nname = "a b"\n', "list 'a b' (lists[0]): name: use 1-100 letters"),
    ('[[lists]]\nname = "a"\n[[lists]]\nname = "b"\nfolder = ["x"]\n', "list 'b' (lists[1]): unknown key 'folder'"),
    ('[[lists]]\nname = "a"\n[lists.digest]\nmin_msgs = 2\n', "list 'a' (lists[0]): unknown key 'digest.min_msgs'"),
    ('[[lists]]\nname = "a"\n[lists.digest]\nmin_messages = "2"\n',
     "list 'a' (lists[0]): digest.min_messages: expected an integer"),
    ('[[lists]]\nname = "a"\n[lists.schedule]\npoll_minutes = 5\n',
     "list 'a' (lists[0]): not per list 'schedule.poll_minutes'"),
    ('[[lists]]\nname = "a"\n[lists.schedule]\ndraft_cron = "0 8 * *"\n',
     "list 'a' (lists[0]): schedule.draft_cron: '0 8 * *': a crontab line has 5 fields"),
    ('[[lists]]\nname = "a"\nchair_address = "Maya maya@example.org"\n',
     "list 'a' (lists[0]): digest.chair_address: 'Maya maya@example.org' is not an email address"),
    ('[[lists]]\nname = "a"\ntimezone = "Mars/Olympus"\n', "list 'a' (lists[0]): list.timezone: unknown timezone"),
    ('[[lists]]\nname = "a"\nfolders = []\n', "list 'a' (lists[0]): folders: name at least one folder"),
    ('[list]\nname = "a"\n[[lists]]\nname = "b"\n', "list: use either one [list] or [[lists]] entries, not both"),
    ('[source]\narchive_folders = ["x"]\n[[lists]]\nname = "b"\n',
     "source.archive_folders: with [[lists]], each list names"),
    ("lists = []\n", "lists: expected one or more [[lists]] tables"),
])
def test_a_mistake_in_an_entry_names_the_file_the_entry_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    assert refused(tmp_path, text).startswith(message)


def test_five_hundred_lists_load_fast(tmp_path: Path) -> None:
    entries = "".join(f'[[lists]]\nname = "list{i}"\naddress = "list{i}@lists.example.org"\nfolders = ["l/{i}"]\n'
                      f'chair = "Chair {i}"\nchair_address = "chair{i}@example.org"\n'
                      + ('[lists.digest]\nmin_messages = 3\n' if i % 10 == 0 else "") for i in range(500))
    path = write(tmp_path, '[smtp]\nfrom_address = "bot@example.org"\n' + entries)
    started = time.perf_counter()
    settings = load_settings(path)
    took = time.perf_counter() - started
    assert len(settings.lists) == 500 and settings.for_list("list490").digest.min_messages == 3
    assert took < 1.0, f"500 lists took {took:.2f}s to load"


def test_an_entrys_view_is_made_when_asked_for_and_is_the_same_each_time(tmp_path: Path) -> None:
    """Views are made on demand (a config of 10,000 lists held 8.5 MB of them through a whole drafting pass)."""
    import gc
    import tracemalloc

    settings = load_settings(write(tmp_path, '[publish]\ndir = "site"\n' + TWO_LISTS))
    alpha = settings.for_list("alpha")
    assert alpha == settings.lists[0] == settings.for_list("alpha") and alpha.lists == (alpha,)
    assert settings.lists[0:2] == [alpha, settings.for_list("beta")] and [v.list.name for v in settings.lists] == [
        "alpha", "beta"]
    assert (alpha.digest.chair_address, alpha.publish.dir) == ("ann@example.org", str(tmp_path / "site" / "alpha"))
    with pytest.raises(ConfigError, match=r"no list named 'gamma' \(lists: alpha, beta\)"):
        settings.for_list("gamma")

    lists = 2000
    path = write(tmp_path, "".join(f'[[lists]]\nname = "list-{i:05d}"\naddress = "list-{i:05d}@lists.example.org"\n'
                                   f'folders = ["list-{i:05d}"]\nchair = "Chair {i}"\n'
                                   f'chair_address = "chair-{i}@example.org"\n' for i in range(lists)))
    gc.collect()
    tracemalloc.start()
    try:
        many = load_settings(path)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert many.for_list("list-01999").digest.chair == "Chair 1999"
    # Its entries, names and folders: about 580 bytes a list. Whole views held were about 850.
    assert held / lists < 700, f"{held / lists:.0f} bytes a list"


# -- the command line ----------------------------------------------------------------------


def test_list_is_required_with_two_lists_and_names_them(tmp_path: Path) -> None:
    config = str(write(tmp_path, '[store]\npath = "store.sqlite3"\n' + TWO_LISTS))
    for args in (("draft",), ("review",), ("subscribers", "list"), ("send",), ("actions",), ("show", "1")):
        done = digestbot("--config", config, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr == (f"digestbot: error: {config}: this config has 2 lists: choose one with --list NAME "
                               "(alpha, beta)\n")
    unknown = digestbot("--config", config, "--list", "gamma", "review")
    assert (unknown.returncode, unknown.stderr) == (2, f"digestbot: error: {config}: no list named 'gamma' "
                                                       "(lists: alpha, beta)\n")
    everyone = digestbot("--config", config, "--list", "alpha", "schedule")
    assert everyone.returncode == 2 and "schedule serves every list of the config" in everyone.stderr
    assert digestbot("--config", config, "--list", "beta", "review").returncode == 0


# -- end to end: Dovecot, the CLI, SQLite and PostgreSQL ---------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_cross_post_is_in_both_lists_digests(dovecot: Dovecot, tmp_path: Path, backend: str,
                                               request: pytest.FixtureRequest) -> None:
    dovecot.deliver("Lists/alpha", [make_raw(1, subject="Alpha only plans"),
                                    make_raw(2, subject="Cross posted release")])
    dovecot.deliver("Lists/beta", [make_raw(2, subject="Cross posted release"),
                                   make_raw(3, subject="Beta only benchmarks")])
    config = write_config(tmp_path / "c.toml", dovecot)
    text = config.read_text().replace('folders = ["INBOX"]\n', "")  # each list names its folders
    if backend == "postgresql":
        text = text.replace('path = "store.sqlite3"', f'url = "{request.getfixturevalue("postgres_url")}"')
    config.write_text(text + TWO_LISTS)

    polled = digestbot("--config", str(config), "poll")
    assert polled.returncode == 0, polled.stderr
    assert polled.stdout == ("Lists/alpha: 2 new (0 already stored), last UID 2; "
                             "Lists/beta: 1 new (1 already stored), last UID 2\n")  # the cross-post stored once
    week = ("--since", "2014-08-18", "--until", "2014-08-25")
    alpha = digestbot("--config", str(config), "--list", "alpha", "draft", *week, "--format", "json")
    beta = digestbot("--config", str(config), "--list", "beta", "draft", *week, "--format", "json")
    assert alpha.returncode == 0 and beta.returncode == 0, alpha.stderr + beta.stderr
    assert _subjects(alpha.stdout) == {"Alpha only plans", "Cross posted release"}
    assert _subjects(beta.stdout) == {"Cross posted release", "Beta only benchmarks"}
    assert json.loads(beta.stdout)["title"].startswith("Beta minutes: ")  # the list's own [digest]
    if backend == "sqlite":  # a list's draft reads through sqlite3 alone, as a single list's does
        probe = ("import sys; from bot.cli.main import main; main(sys.argv[1:]); "
                 "print('sqlalchemy' in sys.modules, 'bot.store.database' in sys.modules)")
        output = tmp_path / "alpha.json"
        light = subprocess.run([sys.executable, "-c", probe, "-c", str(config), "--list", "alpha", "draft", *week,
                                "--format", "json", "-o", str(output)], capture_output=True, text=True,
                               timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
        assert (light.returncode, light.stdout) == (0, "False False\n"), light.stderr
        assert output.read_text(encoding="utf-8") == alpha.stdout

    status = digestbot("--config", str(config), "status", "--format", "json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["messages"]["messages"] == 3
    assert [(one["name"], one["messages"], one["folders"]) for one in data["lists"]] == [
        ("alpha", 2, ["Lists/alpha"]), ("beta", 2, ["Lists/beta"])]
    text_status = digestbot("--config", str(config), "status").stdout
    assert "list alpha: 2 messages, drafts pending: 0" in text_status


def _subjects(digest_json: str) -> set[str]:
    data: Any = json.loads(digest_json)
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "subject" and isinstance(value, str):
                    found.add(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
    return found


def test_run_once_serves_each_list_and_one_lists_failure_goes_to_its_chair(
        dovecot: Dovecot, smtp_server: SmtpServer, review_secret: str, tmp_path: Path) -> None:
    """beta cannot draft (its approval secret is missing): alpha is drafted all the same, beta's chair is told."""
    from datetime import UTC, datetime, timedelta

    from bot.schedule.runner import run
    from bot.store.database import open_store

    due = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    last_week = due - timedelta(days=7) + timedelta(minutes=1)  # in the week the hourly draft due now digests
    dovecot.deliver("Lists/alpha", [make_raw(1, subject="Alpha only plans", when=last_week),
                                    make_raw(2, subject="Cross posted release", when=last_week)])
    dovecot.deliver("Lists/beta", [make_raw(2, subject="Cross posted release", when=last_week)])
    config = write_config(tmp_path / "c.toml", dovecot)
    text = config.read_text().replace('folders = ["INBOX"]\n', "") + (
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_server.port}\ntls = "none"\n'
        'from_address = "digestbot@example.org"\ntimeout = 5.0\n'
        f'[review]\nsecret_env = "{SECRET_ENV}"\n'
        '[schedule]\npoll_minutes = 525600\ndraft_cron = "0 * * * *"\nremind_cron = "0 0 1 1 *"\n'
        'send_cron = "0 0 1 1 *"\n') + TWO_LISTS.replace(
        '[lists.digest]\nmin_messages = 2\n', '[lists.review]\nsecret_env = "DIGESTBOT_TEST_NO_SUCH_SECRET"\n'
                                              '[lists.digest]\n')
    config.write_text(text)
    settings = load_settings(config)
    # A first start only writes the schedule down: from two hours ago, so that this hour's draft is due now.
    assert run(settings, once=True, jobs={}, now=due - timedelta(hours=2)) == []

    done = digestbot("--config", str(config), "run", "--once")

    assert done.returncode == 1, done.stderr
    assert "failed: draft:beta" in done.stderr and "draft:alpha" in done.stderr
    [review] = review_mails(smtp_server)
    assert review["To"] == "ann@example.org" and "alpha" in str(review["Subject"])
    [told] = notices(smtp_server)
    assert (told["To"], told["Subject"]) == ("bob@example.org", "[digestbot] beta: the draft job failed")
    assert "DIGESTBOT_TEST_NO_SUCH_SECRET" in text_of(told)
    store = open_store(settings.store_url, "alpha")
    try:
        assert [d.state for d in store.drafts.all()] == ["awaiting"]
        assert store.for_list("beta").drafts.all() == []
        assert store.list_counts() == {"alpha": 2, "beta": 1}  # alpha's draft polled every list's folders
    finally:
        store.close()
    schedule = digestbot("--config", str(config), "schedule")
    assert schedule.returncode == 0, schedule.stderr
    assert "draft:beta" in schedule.stdout and "failed" in schedule.stdout


def test_a_poll_of_many_lists_asks_once_what_changed(dovecot: Dovecot, tmp_path: Path) -> None:
    """Every folder of every list over one connection; LIST-STATUS, then an EXAMINE only where there is mail."""
    names = [f"l{i}" for i in range(6)]
    with dovecot.client() as client:
        for name in names:
            client.create_folder(f"Lists/{name}")
    dovecot.deliver("Lists/l0", [make_raw(1)])
    proxy = Proxy(dovecot.port)
    config = write_config(tmp_path / "c.toml", dovecot, port=proxy.port)
    config.write_text(config.read_text().replace('folders = ["INBOX"]\n', "") + "".join(
        f'[[lists]]\nname = "{name}"\nfolders = ["Lists/{name}"]\n' for name in names))
    try:
        first = digestbot("--config", str(config), "poll")
        assert first.returncode == 0, first.stderr
        assert proxy.connections == 1
        dovecot.deliver("Lists/l3", [make_raw(2)])
        before = len(proxy.commands)
        second = digestbot("--config", str(config), "poll")
        assert second.returncode == 0, second.stderr
        assert second.stdout.startswith("Lists/l0: nothing new; Lists/l1: nothing new; Lists/l2: nothing new; "
                                        "Lists/l3: 1 new (0 already stored), last UID 1;")
        asked = [c for c in proxy.commands[before:] if c.split()[0] in ("LIST", "STATUS", "EXAMINE", "SELECT")]
        assert asked == ['LIST "" "*" RETURN (STATUS (UIDNEXT UIDVALIDITY))', 'EXAMINE "Lists/l3"']
        assert proxy.connections == 2  # one per poll
    finally:
        proxy.close()


def test_two_hundred_lists_each_drafted_a_cross_post_in_both_and_a_refused_smtp_told(
        dovecot: Dovecot, smtp_server: SmtpServer, review_secret: str, tmp_path: Path) -> None:
    """One `run --once` for 200 lists: each list's own draft and chair; l7's SMTP refuses, the others go on."""
    from datetime import UTC, datetime, timedelta

    from bot.schedule.runner import run
    from bot.store.database import open_store
    from tests.helpers.dovecot import free_port

    count, refused_list = 200, "l7"
    due = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    last_week = due - timedelta(days=7) + timedelta(minutes=1)
    with dovecot.client() as client:
        for i in range(count):
            client.create_folder(f"Lists/l{i}")
    for i in range(count):
        dovecot.deliver_files(f"Lists/l{i}", [make_raw(1000 + i, subject=f"Topic of list {i}", when=last_week)])
    cross = make_raw(1, subject="Cross posted release", when=last_week)
    dovecot.deliver_files("Lists/l1", [cross])
    dovecot.deliver_files("Lists/l2", [cross])
    config = write_config(tmp_path / "c.toml", dovecot)
    entries = "".join(
        f'[[lists]]\nname = "l{i}"\naddress = "l{i}@lists.example.org"\nfolders = ["Lists/l{i}"]\n'
        f'chair = "Chair {i}"\nchair_address = "chair{i}@example.org"\n'
        + (f'[lists.smtp]\nport = {free_port()}\n' if f"l{i}" == refused_list else "") for i in range(count))
    config.write_text(config.read_text().replace('folders = ["INBOX"]\n', "") + (
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_server.port}\ntls = "none"\n'
        'from_address = "digestbot@example.org"\ntimeout = 5.0\n'
        f'[review]\nsecret_env = "{SECRET_ENV}"\n'
        '[schedule]\npoll_minutes = 525600\ndraft_cron = "0 * * * *"\nremind_cron = "0 0 1 1 *"\n'
        'send_cron = "0 0 1 1 *"\n') + entries)
    settings = load_settings(config)
    assert run(settings, once=True, jobs={}, now=due - timedelta(hours=2)) == []

    done = digestbot("--config", str(config), "run", "--once")

    assert done.returncode == 1, done.stderr
    assert f"failed: draft:{refused_list}" in done.stderr
    reviews = {str(m["To"]): m for m in review_mails(smtp_server)}
    assert set(reviews) == {f"chair{i}@example.org" for i in range(count)} - {"chair7@example.org"}
    assert all(f"Topic of list {i}" in text_of(reviews[f"chair{i}@example.org"]) for i in (0, 1, 2, 199))
    assert "Cross posted release" in text_of(reviews["chair1@example.org"])  # a cross-post: in both digests
    assert "Cross posted release" in text_of(reviews["chair2@example.org"])
    assert "Cross posted release" not in text_of(reviews["chair3@example.org"])
    [told] = notices(smtp_server)  # through the config's own [smtp]: the list's refused
    assert (told["To"], told["Subject"]) == ("chair7@example.org", f"[digestbot] {refused_list}: the draft job failed")
    store = open_store(settings.store_url, "l0")
    try:
        assert store.counts()["messages"] == count + 1  # the cross-post stored once
        assert all(len(store.for_list(f"l{i}").drafts.all()) == 1 for i in range(count) if i != 7)
    finally:
        store.close()


def test_each_chairs_reply_acts_on_its_own_lists_draft(dovecot: Dovecot, smtp_server: SmtpServer,
                                                      review_secret: str, tmp_path: Path) -> None:
    """Replies arrive in [source] folders (the bot's own); each approves the draft of the list it answers."""
    dovecot.deliver("Lists/alpha", [make_raw(1, subject="Alpha only plans")])
    dovecot.deliver("Lists/beta", [make_raw(2, subject="Beta only benchmarks"), make_raw(3, subject="More")])
    config = write_config(tmp_path / "c.toml", dovecot)  # [source] folders = ["INBOX"]: where replies arrive
    config.write_text(config.read_text() + (
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_server.port}\ntls = "none"\n'
        'from_address = "digestbot@example.org"\ntimeout = 5.0\n'
        f'[review]\nsecret_env = "{SECRET_ENV}"\n') + TWO_LISTS)
    assert load_settings(config).source.folders == ("INBOX", "Lists/alpha", "Lists/beta")
    assert digestbot("--config", str(config), "poll").returncode == 0
    week = ("--since", "2014-08-18", "--until", "2014-08-25")
    for name in ("alpha", "beta"):
        drafted = digestbot("--config", str(config), "--list", name, "draft", *week, "--notify")
        assert drafted.returncode == 0, drafted.stderr
    mails = {str(m["To"]): m for m in review_mails(smtp_server)}
    dovecot.deliver("INBOX", [reply(mails["bob@example.org"], "approve\n", sender="bob@example.org"),
                              reply(mails["ann@example.org"], "approve\n", sender="ann@example.org")])

    polled = digestbot("--config", str(config), "poll")

    assert polled.returncode == 0, polled.stderr
    assert polled.stdout.startswith("INBOX: 0 new (0 already stored), last UID 2, 2 to the bot (2 approved);")
    for name in ("alpha", "beta"):
        drafts = json.loads(digestbot("--config", str(config), "--list", name, "review", "--format", "json").stdout)
        assert [d["state"] for d in drafts] == ["approved"], (name, drafts)
    status = json.loads(digestbot("--config", str(config), "status", "--format", "json").stdout)
    assert status["messages"]["messages"] == 3  # the replies are the bot's, in no list
