"""`make corpus-check`: every message of a folder is imported and parsed or flagged; missing is 0.

The corpus here is hand-written (tests/helpers/hostile_mail.py) in every container a
list archive comes in: mbox, Maildir, one message per file. The real corpora
in ../shared are checked too when they are there (they are not, for most users).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from bot.model import RawMail
from bot.store.database import open_store
from bot.store.identity import place
from bot.tools import corpus_check
from tests.helpers import hostile_mail as hm
from tests.helpers.mailfactory import make_raw, mbox_of

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "corpora"
COUNTS = re.compile(r"^total: imported (\d+) / parsed (\d+) / flagged (\d+) / missing (\d+)$", re.MULTILINE)


def write_maildir(path: Path, messages: list[bytes]) -> None:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True)
    for i, raw in enumerate(messages):
        (path / ("new" if i % 2 else "cur") / f"{1408000000 + i}.M{i}P1.test:2,").write_bytes(raw)


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """Hostile samples and ordinary mail, in every container; some of it twice."""
    root = tmp_path / "corpus"
    samples = [make() for make in hm.SAMPLES.values()]
    (root / "lists").mkdir(parents=True)
    (root / "lists" / "hostile.mbox").write_bytes(mbox_of(samples[:15]))
    write_maildir(root / "lists" / "Maildir", samples[15:])
    (root / "single").mkdir()
    # The same messages again, as files: read twice, stored once (an mbox adds a blank line: other bytes).
    for i, raw in enumerate(samples[:5]):
        (root / "single" / f"{i:02}.eml").write_bytes(raw)
    (root / "single" / "other-bytes.eml").write_bytes(make_raw(1, body="first copy\n"))
    (root / "single" / "other-bytes-2.eml").write_bytes(make_raw(1, body="second copy, other bytes\n"))
    (root / "single" / "empty.eml").write_bytes(b"")
    (root / "single" / "nested" / "deeper").mkdir(parents=True)
    (root / "single" / "nested" / "deeper" / "torture.txt").write_bytes(hm.torture().replace(b"<torture@", b"<t2@"))
    (root / "README.md").write_text("not mail\n")
    (root / "single" / "README").write_text("not mail either\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return root


def run_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.tools.corpus_check", *map(str, paths)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def totals(output: str) -> tuple[int, int, int, int]:
    found = COUNTS.search(output)
    assert found, output
    imported, parsed, flagged, missing = map(int, found.groups())
    return imported, parsed, flagged, missing


@pytest.mark.timeout(300)
def test_every_message_of_a_hand_written_corpus_is_accounted_for(corpus: Path) -> None:
    result = run_check(corpus)

    assert result.returncode == 0, result.stdout + result.stderr
    samples = len(hm.SAMPLES)
    imported, parsed, flagged, missing = totals(result.stdout)
    # Every sample, the torture copy under a new id, both "<1@test.example>" (other bodies), the empty file.
    assert (imported, missing) == (samples + 4, 0)
    assert parsed + flagged == imported and flagged >= 10
    # The five samples read again as files differ from their mbox copies only by a blank line: one message each.
    assert (f"total: 11 file(s), read {samples + 9} messages, {samples + 4} distinct messages "
            f"(5 read again, 5 of them with other bytes: the first copy is kept; 1 kept beside another with the "
            f"same Message-ID and other content, under a derived key)") in result.stdout
    assert "too-deep" in result.stdout and "CRASHED" not in result.stdout and "MISMATCH" not in result.stdout
    assert "total: store integrity ok" in result.stdout


def test_folders_are_reported_one_by_one_and_in_total(corpus: Path) -> None:
    result = run_check(corpus / "lists", corpus / "single")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{corpus / 'lists'}: 2 file(s), read {len(hm.SAMPLES)} messages")
    assert any(line.startswith(f"{corpus / 'single'}: imported") for line in lines)
    assert totals(result.stdout)[3] == 0


def test_make_corpus_check_runs_over_any_folder(corpus: Path) -> None:
    make = subprocess.run(["make", "-s", "-o", ".venv/.installed", "corpus-check", f"CORPUS={corpus}"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert make.returncode == 0, make.stderr
    assert totals(make.stdout) == totals(run_check(corpus).stdout)


def test_bad_arguments_are_one_line_and_exit_2(tmp_path: Path) -> None:
    nothing = run_check()
    gone = run_check(tmp_path / "nope")
    for result in (nothing, gone):
        assert result.returncode == 2 and result.stdout == ""
        assert "Traceback" not in result.stderr
    assert f"no such file or folder: {tmp_path / 'nope'}" in gone.stderr


def test_a_message_the_store_lost_is_reported_missing(corpus: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The check is not vacuous: an ingest that drops one message, or crashes, fails it."""
    from bot.mail.ingest import ingest as real  # what corpus_check calls

    def dropping(store: object, mails: Iterable[RawMail], *args: object, **kwargs: object) -> object:
        kept = [m for m in mails if b"<b-unused@hostile.example>" not in m.raw]
        return real(store, kept, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(corpus_check, "ingest", dropping)
    assert corpus_check.check([corpus / "lists"]) == 1
    out = capsys.readouterr().out
    assert totals(out)[3] == 1 and "MISSING <b-unused@hostile.example>" in out

    def crashing(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(corpus_check, "ingest", crashing)
    assert corpus_check.check([corpus / "single"]) == 1
    assert "CRASHED" in capsys.readouterr().out


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/corpora is not on this machine (it is optional)")
@pytest.mark.timeout(600)
def test_the_shared_corpora_when_present() -> None:
    folders = [SHARED / "edge-cases", SHARED / "lists"]
    result = run_check(*[f for f in folders if f.is_dir()])
    assert result.returncode == 0, result.stdout + result.stderr
    imported, parsed, flagged, missing = totals(result.stdout)
    assert missing == 0 and imported == parsed + flagged > 0
    print(result.stdout, file=sys.stderr if os.environ.get("DIGESTBOT_SHOW_CORPUS") else sys.stdout)


def test_the_keys_it_expects_are_the_ones_the_store_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Copies, Message-IDs used by other messages (and again), malformed ones: expected key == stored key.

    The expectation is the store's own rule (bot/store/identity.place), not a copy of it that could drift.
    """
    def _mail(n: int, message_id: str, body: str) -> bytes:
        return f"From: a@example.org\nSubject: s{n}\nMessage-ID: {message_id}\n\n{body}\n".encode()

    raws = [_mail(1, "<a@x>", "one"), _mail(1, "<a@x>", "one"), _mail(2, "<a@x>", "two"), _mail(3, "<a@x>", "three"),
            _mail(2, "<a@x>", "two"), _mail(4, ">", "four"), _mail(5, ">", "five"), _mail(6, "<b@x>", "six")]
    calls: list[int] = []

    def counted(*args: Any) -> Any:
        calls.append(1)
        return place(*args)

    monkeypatch.setattr(corpus_check, "place", counted)  # the store's own function decides
    keys = corpus_check.Keys()
    expected = [keys.key(raw) for raw in raws]
    assert len(calls) == len(raws)
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    stored = {s.message_id for s in store.add_raw([RawMail(raw, "t") for raw in raws])}
    assert {key for key, _ in expected} == stored and len(stored) == 6
    assert [derived for _, derived in expected] == [False, False, True, True, True, False, False, False]
    assert store.collisions() == 2
    store.close()
