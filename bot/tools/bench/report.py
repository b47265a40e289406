"""Results, their targets, the table and BENCHMARKS.md.

Every figure is a ratio against an anchor measured in the same run: absolute
times on a shared machine are noise, ratios much less so.
"""

from __future__ import annotations

import math
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal


@dataclass(frozen=True, slots=True)
class Goal:
    """`ratio >= value` ("at least N times faster") or `ratio <= value` ("at most N times")."""

    op: Literal[">=", "<="]
    value: float

    def met(self, ratio: float) -> bool:
        return ratio >= self.value if self.op == ">=" else ratio <= self.value

    @property
    def label(self) -> str:
        return f"{'≥' if self.op == '>=' else '≤'} {self.value:g}×"


@dataclass(frozen=True, slots=True)
class Result:
    """One row of the table."""

    key: str  # stable id, e.g. "summarizer"
    name: str  # what is measured
    anchor: str  # the anchor and its figure, e.g. "sumy LexRank 5.21 s"
    ours: str
    ratio: float | None  # None when the benchmark could not run
    target: str  # the goal's label, or a description for checks that are not ratios
    passed: bool | None  # None: informational, or not run
    note: str = ""  # the workload, or why it did not run

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "FAIL", None: "—"}[self.passed]


def rated(key: str, name: str, anchor: tuple[str, float], ours: tuple[str, float], goal: Goal | None,
          *, unit: str = "s", note: str = "", invert: bool = False) -> Result:
    """A result whose ratio is anchor/ours ("times faster"), or ours/anchor when `invert`."""
    a_label, a_value = anchor
    o_label, o_value = ours
    ratio = (o_value / a_value if invert else a_value / o_value) if min(a_value, o_value) > 0 else math.inf
    return Result(key, name, f"{a_label} {_fmt(a_value, unit)}", f"{o_label} {_fmt(o_value, unit)}", ratio,
                  goal.label if goal else "info", goal.met(ratio) if goal else None, note)


def skipped(key: str, name: str, why: str) -> Result:
    return Result(key, name, "—", "—", None, "—", None, why)


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:.1f} {unit}"


def table(results: Sequence[Result]) -> str:
    """A Markdown table (also readable as plain text)."""
    head = ("benchmark", "anchor", "ours", "ratio", "target", "result")
    rows = [head] + [
        (r.name, r.anchor, r.ours, "—" if r.ratio is None else f"{r.ratio:.2f}×", r.target, r.verdict)
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def notes(results: Sequence[Result]) -> str:
    return "\n".join(f"- {r.name}: {r.note}" for r in results if r.note)


def machine() -> str:
    import os

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}, "
            f"{platform.system()} {platform.release()}, Python {sys.version.split()[0]}")


def markdown(results: Sequence[Result], *, mode: str, preamble: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{preamble.rstrip()}\n\n## Last results\n\n- Date: {stamp}\n- Machine: {machine()}\n"
            f"- Mode: {mode}\n\n{table(results)}\n\nWorkloads and details:\n\n{notes(results)}\n")
