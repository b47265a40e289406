"""The scheduler on a fake clock: triggers, coalescing, restarts, failures, stops.

Jobs here are recording fakes; tests/test_schedule_live.py runs the real jobs
with fake SMTP and IMAP, tests/test_schedule_process.py runs real processes.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from bot.crontab import crontab_weekdays
from bot.errors import ConfigError, SourceError
from bot.schedule.jobs import JOB_ORDER, JobFn, JobRun, Owed, Skipped, crontab, draft_period, job_specs
from bot.schedule.runner import LockBusy, Runner, due_runs, run, schedule_table
from bot.settings import ListSettings, ScheduleSettings, Settings, StoreSettings
from bot.store.database import Store, open_store

LONDON = ZoneInfo("Europe/London")


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def settings_in(tmp_path: Path, **schedule: object) -> Settings:
    return Settings(
        config_path=str(tmp_path / "digestbot.toml"),
        list=ListSettings(timezone="Europe/London"),
        store=StoreSettings(path="store.sqlite3"),
        schedule=ScheduleSettings(**{"timezone": "Europe/London", **schedule}),  # type: ignore[arg-type]
    )


def steps(start: datetime, end: datetime, every: timedelta) -> Iterator[datetime]:
    """Fake "now" values, stepped in UTC as a real clock moves."""
    now = start.astimezone(UTC)
    while now < end.astimezone(UTC):
        now += every
        yield now


class Recorder:
    """Recording fake jobs: each run is (job, due, now); `fail` jobs raise like a server that is down."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        self.runs: list[tuple[str, datetime, datetime]] = []
        self.fail = fail
        self.hooks: dict[str, JobFn] = {}

    def jobs(self) -> dict[str, JobFn]:
        return {name: partial(self._job, name) for name in JOB_ORDER}

    def _job(self, name: str, run: JobRun) -> str:
        self.runs.append((name, run.due, run.now))
        if name in self.hooks:
            return self.hooks[name](run)
        if name in self.fail:
            raise SourceError("cannot connect to imap.example.org:993: Connection refused")
        return f"{name} done"

    def dues(self, name: str) -> list[datetime]:
        return [due for job, due, _ in self.runs if job == name]


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def runner(settings: Settings, recorder: Recorder, now: datetime) -> tuple[Runner, Store]:
    store = open_store(settings.store_url)
    return Runner(settings, store, recorder.jobs(), now=now), store


# -- triggers ---------------------------------------------------------------------


@pytest.mark.parametrize(("field", "names"), [
    ("*", "*"), ("2", "tue"), ("tue", "tue"), ("0", "sun"), ("7", "sun"), ("1-5", "mon,tue,wed,thu,fri"),
    ("0-6", "sun,mon,tue,wed,thu,fri,sat"), ("*/2", "sun,tue,thu,sat"), ("fri-sun", "sun,fri,sat"),
    ("1,3", "mon,wed"),
])
def test_weekdays_mean_what_they_mean_in_a_crontab(field: str, names: str) -> None:
    assert crontab_weekdays(field) == names


def test_a_numeric_weekday_fires_on_the_crontab_day() -> None:
    trigger = crontab("schedule.draft_cron", "0 8 * * 2", LONDON)  # 2 is Tuesday in a crontab
    assert trigger.get_next_fire_time(None, london(2024, 10, 21)) == london(2024, 10, 22, 8)


@pytest.mark.parametrize(("expr", "message"), [
    ("0 8 * *", "5 fields"), ("0 25 * * *", "25"), ("0 8 1 * tue", "not both"), ("0 8 * * 9", "not a weekday"),
    ("0 8 * * 5-1", "backwards"),
])
def test_a_bad_cron_expression_names_the_key(tmp_path: Path, expr: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"schedule.draft_cron: .*{message}"):
        job_specs(settings_in(tmp_path, draft_cron=expr))


def test_poll_minutes_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="poll_minutes"):
        job_specs(settings_in(tmp_path, poll_minutes=0))


def test_clocks_going_back_do_not_double_a_weekly_time() -> None:
    trigger = crontab("schedule.draft_cron", "30 1 * * sun", LONDON)  # 01:30 happens twice on 27 October
    fires = due_runs(trigger, trigger.get_next_fire_time(None, london(2024, 10, 14)), london(2024, 11, 4))
    assert [f.astimezone(UTC) for f in fires] == [
        datetime(2024, 10, 20, 0, 30, tzinfo=UTC), datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
        datetime(2024, 11, 3, 1, 30, tzinfo=UTC)]


def test_clocks_going_forward_do_not_skip_a_weekly_time() -> None:
    trigger = crontab("schedule.draft_cron", "30 1 * * sun", LONDON)  # there is no 01:30 on 31 March
    fires = due_runs(trigger, trigger.get_next_fire_time(None, london(2024, 3, 18)), london(2024, 4, 8))
    assert [f.astimezone(UTC) for f in fires] == [
        datetime(2024, 3, 24, 1, 30, tzinfo=UTC), datetime(2024, 3, 31, 1, 30, tzinfo=UTC),  # 02:30 BST
        datetime(2024, 4, 7, 0, 30, tzinfo=UTC)]


def test_due_runs_compares_instants_not_wall_clocks() -> None:
    trigger = crontab("schedule.send_cron", "*/30 * * * *", LONDON)
    second_one = datetime(2024, 10, 27, 1, 0, tzinfo=UTC).astimezone(LONDON)  # 01:00 GMT, after 01:30 BST
    first_half_past = london(2024, 10, 27, 1, 30)  # 01:30 BST: an earlier instant, a later wall clock
    assert due_runs(trigger, second_one, first_half_past) == []
    fires = due_runs(trigger, london(2024, 10, 27, 0, 0), london(2024, 10, 27, 3, 0))
    assert [f"{f:%H:%M %Z}" for f in fires] == [  # the repeated hour is not run again
        "00:00 BST", "00:30 BST", "01:00 BST", "01:30 BST", "02:00 GMT", "02:30 GMT", "03:00 GMT"]


def test_the_draft_covers_the_last_complete_week(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    assert draft_period(settings, london(2024, 10, 29, 8)) == (london(2024, 10, 21), london(2024, 10, 28))
    assert draft_period(settings, london(2024, 10, 28, 0, 30)) == (london(2024, 10, 21), london(2024, 10, 28))
    sunday = replace(settings, digest=replace(settings.digest, week_starts="sunday"))
    assert draft_period(sunday, london(2024, 10, 29, 8)) == (london(2024, 10, 20), london(2024, 10, 27))


# -- a simulated month ----------------------------------------------------------------


def test_a_month_runs_each_job_once_per_due_time(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)  # draft Tuesdays 08:00, remind daily 09:00, send every 30 min, poll every 15
    recorder = Recorder()
    start, end = london(2024, 10, 1), london(2024, 11, 1)  # the clocks go back on 27 October
    bot, _store = runner(settings, recorder, start)
    passes = list(steps(start, end, timedelta(hours=1)))
    for now in passes:
        bot.run_pass(now)
    assert recorder.dues("draft") == [london(2024, 10, day, 8) for day in (1, 8, 15, 22, 29)]
    assert recorder.dues("remind") == [london(2024, 10, day, 9) for day in range(1, 32)]
    # Four polls and two sends fall due between two passes an hour apart: coalesced into one run each.
    # (Compared in UTC: Python never finds 01:00 BST on 27 October equal to anything outside its zone.)
    assert [due.astimezone(UTC) for due in recorder.dues("poll")] == passes
    # 01:00 GMT on 27 October repeats a wall-clock time already run: the send due then is the one of 01:30 BST.
    repeated, half_past = datetime(2024, 10, 27, 1, tzinfo=UTC), datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    assert [due.astimezone(UTC) for due in recorder.dues("send")] == [
        half_past if now == repeated else now for now in passes]
    assert [job for job, _, _ in recorder.runs[:2]] == ["poll", "send"]  # poll first, send last


def test_every_fire_time_runs_once_across_the_change_of_clocks(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, draft_cron="30 1 * * sun", remind_cron="30 1 * * *")
    recorder = Recorder()
    start, end = london(2024, 10, 26, 12), london(2024, 10, 28, 12)  # 49 hours
    bot, _store = runner(settings, recorder, start)
    for now in steps(start, end, timedelta(minutes=15)):
        bot.run_pass(now)
    assert recorder.dues("draft") == [london(2024, 10, 27, 1, 30)]
    assert recorder.dues("remind") == [london(2024, 10, 27, 1, 30), london(2024, 10, 28, 1, 30)]
    assert len(recorder.dues("poll")) == 49 * 4  # the first pass coalesces 12:00 and 12:15
    # Every half hour from 12:00 to 12:00 two days later, less the wall-clock times the clocks repeat.
    sends = {f"{due:%d %H:%M %Z}" for due in recorder.dues("send")}
    assert len(sends) == len(recorder.dues("send")) == 49 * 2 + 1 - 2
    assert {"27 01:30 BST", "27 02:00 GMT"} <= sends and not {"27 01:00 GMT", "27 01:30 GMT"} & sends


def test_a_restart_in_the_middle_loses_and_repeats_nothing(tmp_path: Path) -> None:
    start, end = london(2024, 10, 20), london(2024, 10, 30)
    straight = Recorder()
    bot, _store = runner(settings_in(tmp_path / "straight"), straight, start)
    for now in steps(start, end, timedelta(hours=1)):
        bot.run_pass(now)

    restarted = Recorder()
    settings = settings_in(tmp_path / "restarted")
    bot, store = runner(settings, restarted, start)
    for now in steps(start, end, timedelta(hours=1)):
        if now.hour == 7:  # every morning: a new process, a new connection, the same database
            store.engine.dispose()
            bot, store = runner(settings, restarted, now)
        bot.run_pass(now)
    assert [(job, due) for job, due, _ in restarted.runs] == [(job, due) for job, due, _ in straight.runs]


def test_jobs_missed_while_the_bot_was_down_run_once_when_it_is_back(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    recorder = Recorder()
    bot, store = runner(settings, recorder, london(2024, 10, 28))
    bot.run_pass(london(2024, 10, 29, 7))
    recorder.runs.clear()
    store.engine.dispose()  # down from Tuesday 07:00 to Thursday 12:10: a draft, 3 reminders, ~200 polls missed
    back = london(2024, 10, 31, 12, 10)
    bot, _store = runner(settings, recorder, back)
    bot.run_pass(back)
    assert [(job, due) for job, due, _ in recorder.runs] == [
        ("poll", london(2024, 10, 31, 12)), ("draft", london(2024, 10, 29, 8)),  # the week it was meant for
        ("remind", london(2024, 10, 31, 9)), ("send", london(2024, 10, 31, 12))]
    bot.run_pass(back + timedelta(minutes=1))
    assert len(recorder.runs) == 4


# -- failures, crashes, stops ------------------------------------------------------------


def test_a_failing_job_is_logged_and_retried_at_its_next_run(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(fail=frozenset({"poll"}))
    recorder.hooks["send"] = lambda run: (_ for _ in ()).throw(RuntimeError("SMTP said no"))
    start = london(2024, 10, 28, 12)
    bot, _store = runner(settings_in(tmp_path), recorder, start)
    with caplog.at_level(logging.INFO, logger="digestbot"):
        failed = [bot.run_pass(now) for now in steps(start, start + timedelta(days=1), timedelta(minutes=15))]
    assert len(recorder.dues("poll")) == 96  # once per due time: no retry storm, no give-up
    assert recorder.dues("draft") == [london(2024, 10, 29, 8)]  # the others ran all the same
    assert recorder.dues("remind") == [london(2024, 10, 29, 9)]
    assert failed[0] == ["poll", "send"]
    assert "poll (due 2024-10-28 12:15 GMT): failed: cannot connect to imap.example.org:993: Connection refused; " \
           "next try 2024-10-28 12:30 GMT" in caplog.text
    assert "send (due 2024-10-28 12:30 GMT): failed: RuntimeError: SMTP said no" in caplog.text
    assert "draft (due 2024-10-29 08:00 GMT): draft done" in caplog.text


def test_a_skipped_job_is_a_warning_not_a_failure(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()

    def approved(run: JobRun) -> str:
        raise Skipped("2024-10-21..2024-10-27 not redrafted: already approved as #3")

    recorder.hooks["draft"] = approved
    bot, _store = runner(settings_in(tmp_path), recorder, london(2024, 10, 29, 7))
    with caplog.at_level(logging.INFO, logger="digestbot"):
        assert bot.run_pass(london(2024, 10, 29, 8)) == []
    assert ("WARNING", "draft (due 2024-10-29 08:00 GMT): 2024-10-21..2024-10-27 not redrafted: already approved "
            "as #3") in [(r.levelname, r.getMessage().rsplit(" [", 1)[0]) for r in caplog.records]


def test_a_run_cut_short_by_a_crash_runs_again_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_in(tmp_path)
    recorder = Recorder()
    recorder.hooks["draft"] = lambda run: (_ for _ in ()).throw(KeyboardInterrupt())  # like kill -9 mid-job
    bot, store = runner(settings, recorder, london(2024, 10, 29, 7))
    with pytest.raises(KeyboardInterrupt):
        bot.run_pass(london(2024, 10, 29, 8))
    store.engine.dispose()
    del recorder.hooks["draft"]
    bot, _store = runner(settings, recorder, london(2024, 10, 29, 8, 5))
    with caplog.at_level(logging.INFO, logger="digestbot"):
        bot.run_pass(london(2024, 10, 29, 8, 5))
        bot.run_pass(london(2024, 10, 29, 8, 10))
    assert recorder.dues("draft") == [london(2024, 10, 29, 8)] * 2
    assert recorder.dues("send") == [london(2024, 10, 29, 8)]  # owed behind the draft: not lost either
    assert "draft: the run due 2024-10-29 08:00 GMT was cut short last time; running it again" in caplog.text


def test_a_stop_finishes_the_current_job_and_leaves_the_rest_for_the_next_start(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    recorder = Recorder()
    bot, store = runner(settings, recorder, london(2024, 10, 29, 7, 50))

    def poll_then_sigterm(run: JobRun) -> str:
        bot.stop.set()  # what the SIGTERM handler does, mid-job
        return "poll done"

    recorder.hooks["poll"] = poll_then_sigterm
    bot.run_pass(london(2024, 10, 29, 8))
    assert [job for job, _, _ in recorder.runs] == ["poll"]
    store.engine.dispose()
    recorder.hooks.clear()
    bot, _store = runner(settings, recorder, london(2024, 10, 29, 8, 1))
    bot.run_pass(london(2024, 10, 29, 8, 1))
    assert [(job, due) for job, due, _ in recorder.runs] == [
        ("poll", london(2024, 10, 29, 8)), ("draft", london(2024, 10, 29, 8)), ("send", london(2024, 10, 29, 8))]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_stop_after_the_current_job(tmp_path: Path, signum: int) -> None:
    settings = settings_in(tmp_path)
    recorder = Recorder()

    def poll_then_signal(run: JobRun) -> str:
        os.kill(os.getpid(), signum)  # handled between two bytecodes, as a real one would be
        return "poll done"

    recorder.hooks["poll"] = poll_then_signal
    before = signal.getsignal(signum)
    run(settings, once=True, jobs=recorder.jobs(), now=london(2024, 10, 29, 7, 50))  # only sets the jobs up
    run(settings, once=True, jobs=recorder.jobs(), now=london(2024, 10, 29, 8))
    assert [job for job, _, _ in recorder.runs] == ["poll"]
    assert signal.getsignal(signum) is before  # the handlers are put back
    recorder.hooks.clear()
    run(settings, once=True, jobs=recorder.jobs(), now=london(2024, 10, 29, 8, 2))
    assert [job for job, _, _ in recorder.runs] == ["poll", "draft", "send"]


def test_a_run_later_than_the_grace_is_dropped_for_frequent_jobs_only(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_in(tmp_path, poll_minutes=120, misfire_grace_seconds=60)
    recorder = Recorder()
    bot, _store = runner(settings, recorder, london(2024, 10, 29, 7, 59))
    with caplog.at_level(logging.INFO, logger="digestbot"):
        bot.run_pass(london(2024, 10, 29, 9, 30))  # poll due 08:00, draft 08:00, remind 09:00, send 09:30
    assert [job for job, _, _ in recorder.runs] == ["draft", "remind", "send"]
    assert "poll: the run due 2024-10-29 08:00 GMT started 5400s late (grace 60s): dropped" in caplog.text
    bot.run_pass(london(2024, 10, 29, 10))
    assert recorder.dues("poll") == [london(2024, 10, 29, 10)]


def test_a_changed_schedule_applies_at_the_next_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_in(tmp_path)
    recorder = Recorder()
    bot, store = runner(settings, recorder, london(2024, 10, 28))
    store.engine.dispose()
    moved = replace(settings, schedule=replace(settings.schedule, draft_cron="0 8 * * wed"))
    with caplog.at_level(logging.INFO, logger="digestbot"):
        bot, _store = runner(moved, recorder, london(2024, 10, 29, 12))  # Tuesday's draft was due meanwhile
    assert "draft: schedule changed to cron 0 8 * * wed @ Europe/London; next run 2024-10-30 08:00 GMT" \
        in caplog.text
    for now in steps(london(2024, 10, 29, 12), london(2024, 11, 1), timedelta(hours=1)):
        bot.run_pass(now)
    assert recorder.dues("draft") == [london(2024, 10, 29, 8), london(2024, 10, 30, 8)]


def test_schedule_shows_jobs_next_runs_and_last_outcomes(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    assert "(not started yet)" in schedule_table(settings, london(2024, 10, 28, 12))
    bot, _store = runner(settings, Recorder(fail=frozenset({"poll"})), london(2024, 10, 28, 12))
    bot.run_pass(london(2024, 10, 29, 8, 1))
    table = schedule_table(settings, london(2024, 10, 29, 8, 2))
    assert "times in Europe/London; now Tue 2024-10-29 08:02 GMT" in table
    assert "draft   cron 0 8 * * tue" in table
    assert "next Tue 2024-11-05 08:00 GMT" in table
    assert "last Tue 2024-10-29 08:00 GMT: ok: draft done" in table
    assert "last Tue 2024-10-29 08:00 GMT: failed: cannot connect to imap.example.org:993" in table
    assert "overdue" in schedule_table(settings, london(2024, 10, 29, 9))


def test_the_daemon_runs_jobs_when_apscheduler_finds_them_due(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    recorder = Recorder()
    with time_machine.travel(london(2024, 10, 29, 7, 58), tick=True) as traveller:
        bot, _store = runner(settings, recorder, london(2024, 10, 29, 7, 58))
        daemon = threading.Thread(target=bot.serve)
        daemon.start()
        try:
            wait_for(lambda: bot.scheduler.running)  # the catch-up pass is over
            traveller.shift(timedelta(minutes=2))  # 08:00: poll, draft and send are due
            bot.scheduler.wakeup()
            wait_for(lambda: len(recorder.runs) >= 3)
        finally:
            bot.stop.set()  # what SIGTERM does
            bot.wake.set()
            daemon.join(20)
    assert not daemon.is_alive()
    assert sorted((job, due) for job, due, _ in recorder.runs) == [
        ("draft", london(2024, 10, 29, 8)), ("poll", london(2024, 10, 29, 8)), ("send", london(2024, 10, 29, 8))]
    assert not bot.scheduler.running


def test_the_shipped_crontab_line_and_units_run_one_pass() -> None:
    config = Path(__file__).resolve().parent.parent / "config"
    [line] = [x for x in (config / "digestbot.cron").read_text().splitlines() if x and not x.startswith("#")]
    fields = line.split()
    crontab("digestbot.cron", " ".join(fields[:5]), LONDON)  # a valid crontab time
    assert fields[5].endswith("/digestbot") and fields[-2:] == ["run", "--once"]
    service = (config / "digestbot.service").read_text()
    assert "\nExecStart=/opt/digestbot/.venv/bin/digestbot run --once\n" in service
    assert f"\nSuccessExitStatus={LockBusy.exit_code}\n" in service  # busy is not a failure
    assert "\nKillMode=mixed\n" in service  # SIGTERM to digestbot only: it finishes the current job
    assert "\nOnCalendar=*:0/5\nPersistent=true\n" in (config / "digestbot.timer").read_text()


def test_a_pass_reads_what_is_owed_once_a_batch_and_a_run_owed_meanwhile_goes_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # With [[lists]] a pass owes a draft per list: reading every owed run again after each job was quadratic.
    bot, _store = runner(settings_in(tmp_path), recorder := Recorder(), london(2024, 10, 29, 7, 58))
    reads: list[int] = []
    owed = bot.ledger.owed_first

    def counted(limit: int) -> list[Owed]:
        reads.append(1)
        return owed(limit)

    monkeypatch.setattr(bot.ledger, "owed_first", counted)

    def draft(run: JobRun) -> str:  # meanwhile the daemon's scheduler thread owes a poll, and wakes the runner
        bot.owe("poll", None, [london(2024, 10, 29, 8, 15)], london(2024, 10, 29, 8, 15))
        bot.wake.set()
        return "draft done"

    recorder.hooks["draft"] = draft
    bot.run_pass(london(2024, 10, 29, 8, 1))  # poll, draft and send are due at 08:00
    assert [(job, due) for job, due, _ in recorder.runs] == [
        ("poll", london(2024, 10, 29, 8)), ("draft", london(2024, 10, 29, 8)), ("poll", london(2024, 10, 29, 8, 15)),
        ("send", london(2024, 10, 29, 8))]  # the poll owed meanwhile goes before the batch's send
    assert len(reads) == 3  # the batch, the batch after the wake, and the empty read that ends the pass


def test_lists_of_one_schedule_share_its_triggers_and_a_list_of_its_own_gets_its_own(tmp_path: Path) -> None:
    from bot.schedule.lists import all_job_specs
    from bot.settings import load_settings

    entries = "".join(f'[[lists]]\nname = "l{i}"\naddress = "l{i}@example.org"\n' for i in range(3))
    config = tmp_path / "lists.toml"
    config.write_text(f'[store]\npath = "s.sqlite3"\n\n{entries}[lists.schedule]\ndraft_cron = "0 8 * * mon"\n')
    specs = all_job_specs(load_settings(config))  # 10,000 lists' own triggers were 80 MB
    assert specs["draft:l0"].trigger is specs["draft:l1"].trigger  # the file's [schedule]
    assert specs["draft:l2"].label == "cron 0 8 * * mon" and specs["draft:l2"].trigger is not specs["draft:l0"].trigger
    assert [specs[f"draft:l{i}"].id for i in range(3)] == ["draft:l0", "draft:l1", "draft:l2"]
    # Made when asked for (30,001 held jobs were 5 MB at 10,000 lists), in the order the runner registers them.
    assert list(specs) == ["poll", *(f"{job}:l{i}" for i in range(3) for job in ("draft", "remind", "send"))]
    assert len(specs) == 10 and [spec.id for spec in specs.values()] == list(specs)
    assert specs["draft:l2"] == specs["draft:l2"] and "draft:l3" not in specs and "poll:l0" not in specs
    assert specs.get("unknown:l0") is None and specs["poll"].id == "poll"


def test_a_pass_owing_more_runs_than_a_batch_runs_each_once_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The drain holds a batch of owed runs, not all of them (10,000 lists owe 10,000 drafts at once)."""
    from bot.settings import load_settings

    entries = "".join(f'[[lists]]\nname = "l{i}"\naddress = "l{i}@example.org"\n' for i in range(7))
    config = tmp_path / "lists.toml"
    config.write_text('[store]\npath = "s.sqlite3"\n[schedule]\ntimezone = "Europe/London"\n'
                      'draft_cron = "0 8 * * tue"\nremind_cron = "0 8 * * tue"\nsend_cron = "0 9 * * tue"\n\n'
                      + entries)
    settings = load_settings(config)
    recorder, seen = Recorder(), list[str]()

    def hook(job: str) -> JobFn:
        def ran(run: JobRun) -> str:
            seen.append(f"{job}:{run.settings.list.name}")
            return "done"
        return ran

    recorder.hooks.update(draft=hook("draft"), remind=hook("remind"))
    bot, _store = runner(settings, recorder, london(2024, 10, 29, 7, 58))
    bot.batch = 3
    sizes: list[int] = []
    owed_first = bot.ledger.owed_first

    def counted(limit: int) -> list[Owed]:
        got = owed_first(limit)
        sizes.append(len(got))
        return got

    monkeypatch.setattr(bot.ledger, "owed_first", counted)
    bot.run_pass(london(2024, 10, 29, 8, 1))
    # Every draft before any reminder (JOB_ORDER), each list's once, and never more than a batch held.
    assert seen == [f"{job}:l{i}" for job in ("draft", "remind") for i in range(7)]
    assert max(sizes) == 3 and sizes[-1] == 0 and sum(sizes) == 1 + 14  # the poll, 7 drafts, 7 reminders
