"""The scheduler's state: what each job owes and how it last went (`schedule_runs`), and
APScheduler's own job store (`apscheduler_jobs`) over the same database.

Every change to a job's ledger row is one UPDATE (rows exist from `prepare` on),
so the daemon's two threads never turn a read into a write, which SQLite may refuse.
Times go in and come out in UTC.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bot.store.access import Access
from bot.store.sqlite import maybe_utc, utc
from bot.store.tables import schedule_runs

JOBS_TABLE = "apscheduler_jobs"
# Its columns as APScheduler's SQLAlchemyJobStore makes them (id, next_run_time as a UTC timestamp, pickled state).
_JOBS = sa.table(JOBS_TABLE, sa.column("id"), sa.column("next_run_time"), sa.column("job_state"))
# pg_advisory_xact_lock's key for the schedule's set-up: any 64-bit number no other lock of ours uses.
SCHEDULE_LOCK = 0x6469676573740001
# The first key of `holding`'s two-key advisory locks ("dige"); the second is hashtext(name).
LOCK_SPACE = 0x64696765


@dataclass(frozen=True, slots=True)
class Owed:
    job_id: str
    due: datetime
    interrupted: bool  # it had started when the process that ran it ended


@dataclass(frozen=True, slots=True)
class LastRun:
    owed_for: datetime | None
    due: datetime | None
    at: datetime | None
    outcome: str
    line: str
    failures: int


class ScheduleLedger(Access):
    """`schedule_runs`: one row per job of this list."""

    @property
    def _mine(self) -> sa.ColumnElement[bool]:
        """This list's rows."""
        return schedule_runs.c.list_name == self.list_name

    def prepare(self, job_ids: Iterable[str]) -> None:
        """A row for each job that has none (the table itself comes with the schema)."""
        with self.writing() as conn:
            have = set(conn.scalars(sa.select(schedule_runs.c.job_id).where(self._mine)))
            for job_id in job_ids:
                if job_id not in have:
                    conn.execute(schedule_runs.insert().values(list_name=self.list_name, job_id=job_id, failures=0))

    def _update(self, job_id: str, **values: Any) -> None:
        with self.writing() as conn:
            conn.execute(schedule_runs.update().where(schedule_runs.c.job_id == job_id, self._mine).values(**values))

    def owe(self, job_id: str, due: datetime) -> None:
        """One owed run per job: a newer due time replaces an older one (coalescing)."""
        due = utc(due)
        owed = schedule_runs.c.owed_for
        self._update(job_id, owed_for=sa.case((owed.is_(None) | (owed < due), due), else_=owed))

    def start(self, job_id: str, at: datetime) -> None:
        """The owed run is under way (until `finish`; a crash leaves it marked interrupted)."""
        self._update(job_id, started_at=utc(at))

    def finish(self, job_id: str, due: datetime, outcome: str, line: str, at: datetime) -> None:
        """The run owed for `due` ended with `outcome` (ok | skipped | failed); it is owed no more."""
        due = utc(due)
        failures = schedule_runs.c.failures + 1 if outcome == "failed" else 0
        with self.writing() as conn:
            row = sa.and_(schedule_runs.c.job_id == job_id, self._mine)
            conn.execute(schedule_runs.update().where(row).values(
                last_for=due, last_at=utc(at), last_outcome=outcome, last_line=line, started_at=None,
                failures=failures))
            # A newer due time owed meanwhile (by the daemon's scheduler thread) stays owed.
            conn.execute(schedule_runs.update().where(row, schedule_runs.c.owed_for == due).values(owed_for=None))

    def missed(self, job_id: str, due: datetime, at: datetime, line: str) -> None:
        """The run due at `due` was dropped (too late); what is owed does not change."""
        self._update(job_id, last_for=utc(due), last_at=utc(at), last_outcome="missed", last_line=line)

    def owed(self) -> list[Owed]:
        """Every job that owes a run."""
        query = sa.select(schedule_runs).where(schedule_runs.c.owed_for.is_not(None), self._mine)
        with self.reading() as conn:
            return [Owed(r.job_id, utc(r.owed_for), r.started_at is not None) for r in conn.execute(query)]

    def owed_run(self, job_id: str) -> Owed | None:
        """The run `job_id` owes, if any (one row: what a shared instance reads before running a job)."""
        query = sa.select(schedule_runs).where(schedule_runs.c.job_id == job_id, self._mine,
                                               schedule_runs.c.owed_for.is_not(None))
        with self.reading() as conn:
            row = conn.execute(query).first()
        return Owed(row.job_id, utc(row.owed_for), row.started_at is not None) if row is not None else None

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One instance at a time, while it brings the job store and ledger in line with its config.

        On PostgreSQL, where several instances may share the store (bot/schedule/cluster.py), a
        transaction-scoped advisory lock; nothing on SQLite, whose store one instance serves (its file lock).
        """
        if self.engine.dialect.name != "postgresql":
            yield
            return
        with self.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEDULE_LOCK})
            yield

    @contextmanager
    def holding(self, key: str) -> Iterator[None]:
        """Hold the advisory lock named `key` while the block runs, waiting for it first (PostgreSQL only).

        A session lock, on a connection of its own: PostgreSQL frees it when the holder's connection
        ends, so a killed instance leaves none behind, while one that is only slow (paused, swapping)
        keeps it. What runs a list's job, or a tick, holds it (bot/schedule/cluster.py).
        """
        if self.engine.dialect.name != "postgresql":
            yield
            return
        args = {"space": LOCK_SPACE, "key": key}
        with self.engine.connect() as conn:
            # A host gone without closing its connection (power cut) would keep the lock until the server's
            # TCP keepalive notices, hours by default: ask for about a minute on this connection.
            conn.execute(sa.text("SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; "
                                 "SET tcp_keepalives_count = 3"))
            conn.execute(sa.text("SELECT pg_advisory_lock(:space, hashtext(:key))"), args)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:space, hashtext(:key))"), args)
                conn.commit()

    def held(self, key: str) -> bool:
        """Whether a live session holds the advisory lock `key` of `holding` (False off PostgreSQL)."""
        if self.engine.dialect.name != "postgresql":
            return False
        args = {"space": LOCK_SPACE, "key": key}
        with self.engine.connect() as conn:
            if not conn.scalar(sa.text("SELECT pg_try_advisory_lock(:space, hashtext(:key))"), args):
                return True
            conn.execute(sa.text("SELECT pg_advisory_unlock(:space, hashtext(:key))"), args)
            conn.commit()
            return False

    def install_queue(self, table: str, ddl: str) -> bool:
        """Create a job queue's tables (`ddl`: procrastinate's schema) unless `table` exists; True if it did.

        Instances starting together take turns (the advisory lock of `exclusive`): one creates, the others find.
        """
        with self.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEDULE_LOCK})
            if sa.inspect(conn).has_table(table):
                return False
            conn.exec_driver_sql(ddl.replace("%", "%%"))  # SQLAlchemy hands psycopg parameters: % is theirs
            return True

    def last_runs(self) -> dict[str, LastRun]:
        """Each job's row, by job id; {} for a store the scheduler never ran on (nothing is created)."""
        with self.reading() as conn:
            if not sa.inspect(conn).has_table(schedule_runs.name):
                return {}
            return {r.job_id: LastRun(maybe_utc(r.owed_for), maybe_utc(r.last_for), maybe_utc(r.last_at),
                                      r.last_outcome or "", r.last_line or "", r.failures)
                    for r in conn.execute(sa.select(schedule_runs).where(self._mine))}

    # -- every list at once: the runner of a many-list config ---------------------------

    def prepare_everywhere(self, jobs: Iterable[tuple[str, str]]) -> None:
        """A row for each (list, job) that has none, in one transaction."""
        with self.writing() as conn:
            # A string a row, not a pair: 30,000 jobs of 10,000 lists were a 12 MB peak as tuples.
            have = {f"{name}\0{job_id}" for name, job_id in conn.execute(sa.select(schedule_runs.c.list_name,
                                                                                  schedule_runs.c.job_id))}
            rows = []
            for name, job_id in jobs:
                key = f"{name}\0{job_id}"
                if key not in have:
                    have.add(key)
                    rows.append({"list_name": name, "job_id": job_id, "failures": 0})
            if rows:
                conn.execute(schedule_runs.insert(), rows)

    def owed_everywhere(self) -> list[tuple[str, Owed]]:
        """(list, owed run) of every list's jobs that owe a run, in one query."""
        query = sa.select(schedule_runs).where(schedule_runs.c.owed_for.is_not(None))
        with self.reading() as conn:
            return [(r.list_name, Owed(r.job_id, utc(r.owed_for), r.started_at is not None))
                    for r in conn.execute(query)]

    def owed_first(self, order: Sequence[str], limit: int, *, first_list: str,
                   list_jobs: Sequence[str] = ()) -> list[tuple[str, Owed]]:
        """(list, owed run) of the `limit` runs to run first: by the job's place in `order`, then by due time.

        Of `first_list`'s jobs and of every list's `list_jobs`. A pass that owes 10,000 lists' drafts
        holds a batch of them at a time: all of them were about 2 MB, held to the end of the pass.
        """
        rank = sa.case({job: index for index, job in enumerate(order)}, value=schedule_runs.c.job_id,
                       else_=len(order))
        mine = schedule_runs.c.list_name == first_list
        if list_jobs:
            mine = sa.or_(mine, schedule_runs.c.job_id.in_(list_jobs))
        query = (sa.select(schedule_runs.c.list_name, schedule_runs.c.job_id, schedule_runs.c.owed_for,
                           schedule_runs.c.started_at)
                 .where(schedule_runs.c.owed_for.is_not(None), mine)
                 .order_by(rank, schedule_runs.c.owed_for, schedule_runs.c.list_name, schedule_runs.c.job_id)
                 .limit(limit))
        with self.reading() as conn:
            return [(r.list_name, Owed(r.job_id, utc(r.owed_for), r.started_at is not None))
                    for r in conn.execute(query)]

    def last_runs_everywhere(self) -> dict[tuple[str, str], LastRun]:
        """Each row, by (list, job id)."""
        with self.reading() as conn:
            return {(r.list_name, r.job_id): LastRun(maybe_utc(r.owed_for), maybe_utc(r.last_for),
                                                     maybe_utc(r.last_at), r.last_outcome or "", r.last_line or "",
                                                     r.failures)
                    for r in conn.execute(sa.select(schedule_runs))}

    # -- APScheduler's job store ------------------------------------------------------

    def job_store(self) -> Any:
        """APScheduler's SQLAlchemyJobStore on this database (its table is created when it starts)."""
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        return SQLAlchemyJobStore(engine=self.engine, tablename=JOBS_TABLE)

    # APScheduler's get_all_jobs and get_due_jobs unpickle every job at once: with [[lists]], 30,000 jobs
    # of 10,000 lists were a peak of about 120 MB. These read its table a chunk at a time instead.
    def job_times(self, due_by: datetime | None = None, chunk: int = 1000) -> Iterator[tuple[str, datetime | None]]:
        """(id, next run time, UTC) of each job (only those due by `due_by`, when given), in id order."""
        due = None if due_by is None else due_by.timestamp()
        for rows in self._job_chunks(_JOBS.c.next_run_time, chunk, due):
            for job_id, stamp in rows:
                yield job_id, None if stamp is None else datetime.fromtimestamp(stamp, UTC)

    def job_states(self, chunk: int = 1000) -> Iterator[tuple[str, dict[str, Any]]]:
        """(id, state) of each job, in id order: the dict APScheduler pickled (`Job.__getstate__`)."""
        for rows in self._job_chunks(_JOBS.c.job_state, chunk):
            for job_id, state in rows:
                yield job_id, pickle.loads(state)

    def _job_chunks(self, column: sa.ColumnClause[Any], chunk: int,
                    due: float | None = None) -> Iterator[list[tuple[str, Any]]]:
        # Keyset by id, each chunk read and its connection closed before the caller writes (SQLite).
        after = None
        while True:
            query = sa.select(_JOBS.c.id, column).order_by(_JOBS.c.id).limit(chunk)
            if after is not None:
                query = query.where(_JOBS.c.id > after)
            if due is not None:
                query = query.where(_JOBS.c.next_run_time <= due)
            with self.reading() as conn:
                if after is None and not sa.inspect(conn).has_table(JOBS_TABLE):
                    return
                rows = [(row[0], row[1]) for row in conn.execute(query)]
            if not rows:
                return
            yield rows
            after = rows[-1][0]

    def persisted_jobs(self) -> dict[str, Any]:
        """The APScheduler jobs the store holds, by id; {} if it holds none (nothing is created)."""
        with self.reading() as conn:
            if not sa.inspect(conn).has_table(JOBS_TABLE):
                return {}
        return {job.id: job for job in self.job_store().get_all_jobs()}
