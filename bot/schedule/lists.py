"""The schedule of a many-list config: one poll for every list, and each list's draft, remind and send.

A single-list config keeps its four job ids ("poll", "draft", "remind", "send").
With [[lists]], the poll is one job (it reads every list's folders at once) and
each list has its own three, on its own schedule ([lists.schedule] overrides):
"draft:xen-devel", ... The ledger rows (bot/store/ledger.py) are the list's own,
under the bare job id; `ListLedger` maps one to the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime

from bot.schedule.jobs import JOB_ORDER, JobSpec, job_specs
from bot.settings import ListViews, ScheduleSettings, Settings
from bot.store.database import Store
from bot.store.ledger import LastRun, Owed

LIST_JOBS = ("draft", "remind", "send")


def split(job_id: str) -> tuple[str, str | None]:
    """"draft:xen-devel" -> ("draft", "xen-devel"); "poll" -> ("poll", None)."""
    job, _, name = job_id.partition(":")
    return job, name or None


def rank(job_id: str) -> int:
    job = split(job_id)[0]
    return JOB_ORDER.index(job) if job in JOB_ORDER else len(JOB_ORDER)


def all_job_specs(settings: Settings) -> Mapping[str, JobSpec]:
    """Every job of the config, by id; ConfigError names a bad key (of the list it is in)."""
    specs = job_specs(settings)
    if not settings.entries:
        return specs
    # Lists of one [schedule] share its triggers (they hold no state): 10,000 lists' own cron triggers
    # were about 80 MB of a run's memory, and most lists keep the file's schedule.
    by_schedule: dict[ScheduleSettings, dict[str, JobSpec]] = {settings.schedule: specs}
    own = {}
    for view in settings.entries.overriding():
        if view.schedule != settings.schedule:
            own[view.list.name] = by_schedule.get(view.schedule) or by_schedule.setdefault(view.schedule,
                                                                                          job_specs(view))
    return ListJobSpecs(specs, settings.entries, own)


class ListJobSpecs(Mapping[str, JobSpec]):
    """The jobs of a [[lists]] config by id: the poll, then each list's, made when asked for.

    Held made, the 30,001 jobs of 10,000 lists were about 5 MB through a whole pass (`make bench`, row 8).
    """

    def __init__(self, specs: dict[str, JobSpec], lists: ListViews, own: dict[str, dict[str, JobSpec]]) -> None:
        self._specs, self._lists, self._own = specs, lists, own

    def __getitem__(self, job_id: str) -> JobSpec:
        job, name = split(job_id)
        if name is None and job == "poll":
            return self._specs["poll"]
        if job not in LIST_JOBS or name is None or not self._lists.has(name):
            raise KeyError(job_id)
        return replace(self._own.get(name, self._specs)[job], id=job_id)

    def __iter__(self) -> Iterator[str]:
        yield "poll"
        for name in self._lists.names:
            for job in LIST_JOBS:
                yield f"{job}:{name}"

    def __len__(self) -> int:
        return 1 + len(LIST_JOBS) * len(self._lists)


class ListLedger:
    """The ledger rows of every list's jobs, under the runner's job ids (a few queries for all lists)."""

    def __init__(self, store: Store, first_list: str, *, qualified: bool) -> None:
        self.store, self.first_list, self.qualified = store, first_list, qualified

    def _where(self, job_id: str) -> tuple[str, str]:
        job, name = split(job_id)
        return name or self.first_list, job

    def _id(self, name: str, job: str) -> str | None:
        """The runner's id of a ledger row; None for a row of no job of this config's kind."""
        if self.qualified and job in LIST_JOBS:
            return f"{job}:{name}"
        return job if name == self.first_list else None

    def prepare(self, job_ids: Iterable[str]) -> None:
        self.store.ledger.prepare_everywhere(self._where(job_id) for job_id in job_ids)

    def owe(self, job_id: str, due: datetime) -> None:
        name, job = self._where(job_id)
        self.store.for_list(name).ledger.owe(job, due)

    def start(self, job_id: str, at: datetime) -> None:
        name, job = self._where(job_id)
        self.store.for_list(name).ledger.start(job, at)

    def finish(self, job_id: str, due: datetime, outcome: str, line: str, at: datetime) -> None:
        name, job = self._where(job_id)
        self.store.for_list(name).ledger.finish(job, due, outcome, line, at)

    def missed(self, job_id: str, due: datetime, at: datetime, line: str) -> None:
        name, job = self._where(job_id)
        self.store.for_list(name).ledger.missed(job, due, at, line)

    def owed_run(self, job_id: str) -> Owed | None:
        name, job = self._where(job_id)
        owed = self.store.for_list(name).ledger.owed_run(job)
        return replace(owed, job_id=job_id) if owed is not None else None

    def owed(self) -> list[Owed]:
        found = ((self._id(name, owed.job_id), owed) for name, owed in self.store.ledger.owed_everywhere())
        return [replace(owed, job_id=job_id) for job_id, owed in found if job_id is not None]

    def owed_first(self, limit: int) -> list[Owed]:
        """The `limit` owed runs to run first, in JOB_ORDER and then by due time."""
        rows = self.store.ledger.owed_first(JOB_ORDER, limit, first_list=self.first_list,
                                            list_jobs=LIST_JOBS if self.qualified else ())
        found = ((self._id(name, owed.job_id), owed) for name, owed in rows)
        return [replace(owed, job_id=job_id) for job_id, owed in found if job_id is not None]

    def last_runs(self) -> dict[str, LastRun]:
        found = ((self._id(name, job), run) for (name, job), run in self.store.ledger.last_runs_everywhere().items())
        return {job_id: run for job_id, run in found if job_id is not None}
