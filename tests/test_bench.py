"""The benchmark suite runs (on tiny inputs, so it cannot rot), start-up stays light, fast paths stay exact.

Nothing here asserts on times: those are `make bench`'s business.
"""

from __future__ import annotations

import email
import mailbox
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.mail.ingest import ingest
from bot.mail.mime import read_message
from bot.mail.parse import READ_HEADERS, mail_from_message, parse_mail
from bot.mail.source import MboxSource
from bot.model import RawMail
from bot.settings import LimitSettings
from bot.store.database import open_store
from bot.store.identity import message_id_of
from bot.tools.bench.__main__ import main as bench_main
from bot.tools.bench.__main__ import write_results
from bot.tools.bench.data import Plan, scan, select
from bot.tools.bench.report import Result
from bot.tools.bench.runner import BENCHMARKS, run_all
from bot.tools.bench.startup import HEAVY, heavy_imports
from bot.tools.bench.traffic import generate, thread_mails

# -- the suite ----------------------------------------------------------------

EXPECTED_KEYS = {"summarizer", "draft", "scaling", "import", "import-parse", "memory-growth", "memory-ceiling",
                 "startup-help", "startup-status"}


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory: pytest.TempPathFactory) -> list[Result]:
    base = tmp_path_factory.mktemp("bench")
    (base / "work").mkdir()
    return run_all(Plan("tiny", base / "work", cache=base / "cache"))


def test_every_benchmark_runs_on_a_tiny_input(tiny_results: list[Result]) -> None:
    errors = [r.note for r in tiny_results if r.name.endswith("(error)")]
    assert not errors
    keys = {r.key for r in tiny_results}
    assert keys >= EXPECTED_KEYS
    imap = [r for r in tiny_results if r.key.startswith("imap")]
    # Run, or skipped saying what to install.
    assert {r.key for r in imap} == {"imap-first", "imap-nothing-new", "imap-flat"} or (
        len(imap) == 1 and imap[0].ratio is None and "install" in imap[0].note)
    assert {r.key.split("-")[0] for r in tiny_results} <= set(BENCHMARKS) | {"memory", "startup"}


def test_many_lists_row_polls_every_folder_and_drafts_every_list(tiny_results: list[Result]) -> None:
    # The tiny run has 20 lists (and 10 for the memory comparison); the row raises, and shows as an error,
    # unless every list's review mail reached the SMTP sink.
    rows = {r.key: r for r in tiny_results if r.key.startswith("manylists")}
    assert set(rows) == {"manylists-first", "manylists-nothing-new", "manylists-draft-cpu", "manylists-draft-memory"}
    assert "20 folders" in rows["manylists-nothing-new"].name and rows["manylists-nothing-new"].target == "≤ 1.5×"
    assert "20 lists" in rows["manylists-draft-cpu"].note and "ms of CPU a list" in rows["manylists-draft-cpu"].note
    assert rows["manylists-draft-memory"].anchor.startswith("10 lists") and rows["manylists-first"].passed is None


def test_every_row_has_an_anchor_a_ratio_and_a_verdict(tiny_results: list[Result]) -> None:
    for row in tiny_results:
        assert row.name and row.target and row.verdict in ("pass", "FAIL", "—")
        if row.ratio is None:  # not run: it says why
            assert row.passed is None and row.note
            continue
        assert math.isfinite(row.ratio) and row.ratio > 0
        assert row.anchor != "—" and row.ours != "—"


def test_ratio_targets_are_judged_and_checks_say_what_they_check(tiny_results: list[Result]) -> None:
    by_key = {r.key: r for r in tiny_results}
    for key in ("summarizer", "draft", "scaling", "import", "memory-growth", "memory-ceiling"):
        assert by_key[key].target.startswith(("≥", "≤"))
        assert isinstance(by_key[key].passed, bool)
    assert "identical ratings: yes" in by_key["summarizer"].note  # same picks as sumy
    assert by_key["startup-help"].target == "none of them imported"


def test_results_file_keeps_the_text_above_the_results(tiny_results: list[Result], tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nHand-written notes.\n\n## Last results\n\nold table\n")
    write_results(path, tiny_results, "tiny")
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\nHand-written notes.")
    assert "old table" not in text
    assert "| benchmark" in text and "Machine:" in text and "Python " in text and "Date:" in text


def test_command_line_rejects_unknown_benchmarks_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        bench_main(["--only", "nope"])
    assert bench_main(["--tiny", str(tmp_path / "missing.mbox")]) == 2


# -- start-up -------------------------------------------------------------------


@pytest.mark.parametrize("command", [["--help"], ["status"]])
def test_quick_commands_import_no_heavy_library(command: list[str], tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "s.sqlite3"}"\n')
    args = command if command == ["--help"] else ["-c", str(config), *command]
    assert heavy_imports(args) == set(), f"digestbot {' '.join(command)} imports heavy libraries"
    assert {"sumy", "numpy", "scipy", "mailparser", "nltk"} <= HEAVY


# -- the traffic generator ------------------------------------------------------


def test_generator_is_deterministic_and_streams_exactly_the_size_asked(tmp_path: Path) -> None:
    first = generate(tmp_path / "a.mbox", messages=120, seed=5)
    again = generate(tmp_path / "b.mbox", messages=120, seed=5)
    other = generate(tmp_path / "c.mbox", messages=120, seed=6)
    assert (tmp_path / "a.mbox").read_bytes() == (tmp_path / "b.mbox").read_bytes()
    assert (tmp_path / "a.mbox").read_bytes() != (tmp_path / "c.mbox").read_bytes()
    assert first.messages == again.messages == other.messages == 120
    assert sum(first.weeks.values()) == sum(first.months.values()) == 120
    assert len(mailbox.mbox(str(tmp_path / "a.mbox"))) == 120
    by_bytes = generate(tmp_path / "d.mbox", max_bytes=200_000, seed=5)
    assert 200_000 <= by_bytes.bytes < 200_000 + 80_000


def test_generated_traffic_looks_like_a_real_list(tmp_path: Path) -> None:
    generate(tmp_path / "a.mbox", messages=600, seed=2)
    raws = [m.raw for m in MboxSource(tmp_path / "a.mbox")]
    text = b"\n".join(raws)
    for marker in (b"wrote:\n", b"\n> ", b"\n-- \n", b"mailing list\n", b"[PATCH", b"diff --git", b"\n@@ -",
                   b"Content-Type: text/html", b"multipart/alternative", b"In-Reply-To: ", b"=?utf-8?"):
        assert marker in text, marker
    html_only = [r for r in raws if email.message_from_bytes(r).get_content_type() == "text/html"]
    assert html_only
    dates = [email.utils.parsedate_to_datetime(email.message_from_bytes(r)["Date"]) for r in raws]
    assert dates == sorted(dates)  # archived in arrival order


def test_a_long_thread_has_depth(tmp_path: Path) -> None:
    raws = thread_mails(40, seed=3)
    parsed = [email.message_from_bytes(r) for r in raws]
    depths = [len(str(m.get("References", "")).split()) for m in parsed]
    assert len(raws) == 40 and max(depths) >= 5 and depths.count(1) >= 3


def test_select_copies_one_period_and_scan_counts_it(tmp_path: Path) -> None:
    stats = generate(tmp_path / "a.mbox", messages=300, seed=4)
    start, end = stats.busiest_week()
    count = select(tmp_path / "a.mbox", tmp_path / "w.mbox", start, end)
    assert count == stats.weeks[start.date()]
    assert scan(tmp_path / "w.mbox").messages == count


# -- fast paths stay exact --------------------------------------------------------


def _shape(msg: email.message.Message) -> list[object]:
    return [(p.get_content_type(), p.get_payload() if isinstance(p.get_payload(), str) else len(p.get_payload()),
             [(k, v) for k, v in p.items() if k.lower() in READ_HEADERS]) for p in msg.walk()]


ODD_MAIL = [
    b"Subject: cr only\rFrom: a@b\r\rbody\r",
    b"Subject: form\x0cfeed\nFrom: a@b\n\nbody\n",
    b"From someone Mon Jan  1 00:00:00 2024\nSubject: unix from\n\nbody\n",
    b"Subject: x\nFrom a@b Mon\n\nmisplaced unix-from\n",
    b" continued first\nSubject: x\n\nbody\n",
    b"Subject: no blank line\nFrom: a@b",
    b"Subject: x\nnot a header\n\nbody\n",
    b"Content-Type: multipart/mixed; boundary=b\n\npre\n--b\n\nno headers\n--b\nContent-Type: text/html\n\n"
    b"<p>x</p>\n--b--\nepi\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\nContent-Type: text/plain\n\ndoubled\n--b--\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nno close boundary\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b--\n",
    b"Content-Type: multipart/digest; boundary=b\n\n--b\n\nSubject: inner\n\nx\n--b--\n",
    b"Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative; boundary=i\n\n"
    b"--i\nContent-Type: text/plain\n\nnested\n--i--\n--o--\n",
    b"Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b \r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n--b--  \r\n",
    b"Content-Type: message/rfc822\n\nSubject: inner\n\nx\n",
    b"Subject: =?utf-8?q?caf=C3=A9?=\nFrom: =?utf-8?b?SsO2cmc=?= <j@x>\nContent-Type: text/plain; charset=latin-1\n"
    b"\n\xe9\n",
]


def test_fast_reader_matches_the_standard_parser_or_declines(tmp_path: Path) -> None:
    generate(tmp_path / "a.mbox", messages=400, seed=9)
    raws = [m.raw for m in MboxSource(tmp_path / "a.mbox")] + ODD_MAIL
    stamp = datetime(2024, 1, 1, tzinfo=UTC)
    fast = 0
    for raw in raws:
        quick = read_message(raw, READ_HEADERS)
        if quick is None:
            continue
        fast += 1
        full = email.message_from_bytes(raw)
        assert _shape(quick) == _shape(full), raw[:300]
        assert mail_from_message(quick, "<x>", stamp, LimitSettings(), set()) == \
            mail_from_message(full, "<x>", stamp, LimitSettings(), set()), raw[:300]
    assert fast >= 380  # nearly all list mail takes the fast path


def test_pooled_ingest_parses_every_message_once(tmp_path: Path) -> None:
    generate(tmp_path / "a.mbox", messages=1000, seed=8)
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    mails = list(MboxSource(tmp_path / "a.mbox"))
    report = ingest(store, mails, LimitSettings())  # expected=None: the process pool
    assert (report.read, report.new, report.parsed + report.flagged) == (1000, 1000, 1000)
    assert store.counts()["unparsed"] == 0
    sample = mails[500].raw
    expected = parse_mail(sample, message_id_of(sample), datetime.now(UTC), LimitSettings())
    assert store.mails_by_ids([expected.message_id]) == [expected]
    again = ingest(store, [RawMail(m.raw, m.origin) for m in mails[:10]], LimitSettings(), expected=10)
    assert (again.new, again.duplicates, again.parsed) == (0, 10, 0)
