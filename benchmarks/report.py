"""What one benchmark line measured, how it is timed, and how lines are printed and summed up."""
from __future__ import annotations

import statistics
import unicodedata
import time
from dataclasses import dataclass
from typing import Callable, Mapping, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """A goal from issue 8: at most `ratio` times the reference, and/or under `seconds`, or ahead of Django.

    "Ahead of Django" is judged against Django doing the same work (validation, the formula,
    history) where that column was measured, else against plain Django.
    """

    text: str
    ratio: float | None = None
    seconds: float | None = None
    ahead_of_django: bool = False
    #: The line's p95 (Result.p95) under this many seconds (the UI pages, issue 9).
    p95_seconds: float | None = None

    def met(self, result: "Result") -> bool | None:
        """True or False when the target says something about this result; None for a line without one."""
        checks = []
        if self.ratio is not None:
            checks.append(result.ratio <= self.ratio)
        if self.seconds is not None:
            checks.append(result.ours < self.seconds)
        if self.p95_seconds is not None and result.p95 is not None:
            checks.append(result.p95 < self.p95_seconds)
        django = result.django_work if result.django_work is not None else result.django
        if self.ahead_of_django and django is not None:
            checks.append(result.ours < django)
        return all(checks) if checks else None


NO_TARGET = Target("-")
INDEXED_PAGE = Target("<= 1.5x, < 2 ms", ratio=1.5, seconds=0.002)
SEARCH = Target("< 20 ms", seconds=0.020)
STARTSWITH = Target("<= 2x", ratio=2.0)
AHEAD_OF_DJANGO = Target("faster than Django", ahead_of_django=True)  # the same-work column where measured


@dataclass(frozen=True)
class Result:
    """One line: crmkit's time, the hand-written reference's, and Django's where measured (seconds).

    `django` is plain Django (the same rows, computed beforehand, one INSERT each); `django_work`
    is Django doing the same work as crmkit (validation, formula, history), for the write lines.
    """

    name: str
    ours: float
    raw: float
    target: Target = NO_TARGET
    note: str = ""
    django: float | None = None
    django_work: float | None = None
    #: The 95th percentile of the repeated calls, where the line measures it (the UI pages).
    p95: float | None = None

    @property
    def ratio(self) -> float:
        return self.ours / self.raw if self.raw else float("nan")

    @property
    def met(self) -> bool | None:
        return self.target.met(self)


HEADER = (f"{'line':<54} {'crmkit':>10} {'raw Core':>10} {'ratio':>8} {'Django':>10} {'Dj. same':>10}  "
          f"{'target':<19} note")


def line(result: Result) -> str:
    """The result as one row of the table printed under HEADER."""
    mark = {True: "ok ", False: "NO ", None: "   "}[result.met]
    django = format_time(result.django) if result.django is not None else ""
    work = format_time(result.django_work) if result.django_work is not None else ""
    return (f"{pad(result.name, 54)} {format_time(result.ours):>10} {format_time(result.raw):>10} "
            f"{result.ratio:>7.2f}x {django:>10} {work:>10}  {mark}{result.target.text:<16} {result.note}")


def pad(text: str, width: int) -> str:
    """`text` padded with spaces to `width` terminal columns (Chinese characters take two)."""
    columns = sum(2 if unicodedata.east_asian_width(character) in "WF" else 1 for character in text)
    return text + " " * max(0, width - columns)


def format_time(seconds: float) -> str:
    """1.23 s, 4.56 ms or 789 µs."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def summary(results_by_database: dict[str, list[Result]],
            loads: Mapping[str, tuple[str, bool]] | None = None) -> list[str]:
    """Which targets were met and which missed, per database, as printable lines.

    `loads` are the throughput lines by database: (what was measured, whether the target was met).
    """
    lines = ["Targets (issue 8): indexed and keyset pages <= 1.5x raw and < 2 ms; search < 20 ms;",
             "startswith <= 2x the index range; create and bulk ahead of Django's ORM doing the same work",
             "(Dj. same: full_clean, the formula in save(), a history row per record; Django: plain inserts).",
             "Targets (issue 9): the UI list page's p95 < 50 ms and <= 2x its engine calls; >= 150 list pages/s",
             "under gunicorn with 2 workers.",
             "Targets (issue 10): updates with 20 rules that do not match <= 1.5x the same updates without",
             "rules; >= 500 outbox jobs/s with two `crmkit worker` processes (embedded queue and Redis).",
             "Targets (issue 12): import of 100,000 contacts with dedup on email < 60 s; exports in flat memory.",
             "Targets (issue 12): the API list page of 50 through a live server <= 2x the bare engine call."]
    for database, results in results_by_database.items():
        judged = [result for result in results if result.met is not None]
        met = [result.name for result in judged if result.met]
        missed = [result.name for result in judged if not result.met]
        if loads and database in loads:
            what, load_met = loads[database]
            (met if load_met else missed).append(what)
        lines.append(f"{database}: {len(met)} of {len(met) + len(missed)} targets met.")
        lines.extend(f"  met     {name}" for name in met)
        lines.extend(f"  missed  {name}" for name in missed)
    return lines


def median_time(function: Callable[[], object], *, budget: float = 1.0, most: int = 200,
                first: float | None = None) -> float:
    """Median seconds of `function()` after one warm-up call, repeated within about `budget` seconds.

    `first` is the time of a call already made (it is then the warm-up). A call slower than
    the budget is measured once: the warm-up is that measurement.
    """
    if first is None:
        first = timed(function)[0]
    if first >= budget:
        return first
    repeats = max(3, min(most, int(budget / max(first, 1e-6))))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def paired_medians(ours: Callable[[], object], raw: Callable[[], object], *, budget: float = 1.0, most: int = 200,
                   firsts: tuple[float, float] | None = None) -> tuple[float, float]:
    """Median seconds of `ours()` and of `raw()`, called in turn (ours, raw, ours, raw, ...) for about 2 x `budget`.

    After one warm-up call of each (`firsts`: the times of calls already made, which are then
    the warm-ups), each pair of calls meets the same moment of a shared machine's load, so
    their ratio holds where two runs one after the other swing with what other processes did
    meanwhile. A side slower than the budget is measured on its own, as `median_time` does.
    """
    first_ours, first_raw = firsts if firsts is not None else (timed(ours)[0], timed(raw)[0])
    if first_ours >= budget or first_raw >= budget:
        return (median_time(ours, budget=budget, most=most, first=first_ours),
                median_time(raw, budget=budget, most=most, first=first_raw))
    repeats = max(3, min(most, int(2 * budget / max(first_ours + first_raw, 1e-6))))
    ones, twos = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        ours()
        middle = time.perf_counter()
        raw()
        ones.append(middle - start)
        twos.append(time.perf_counter() - middle)
    return statistics.median(ones), statistics.median(twos)


def timed(function: Callable[[], T]) -> tuple[float, T]:
    """Seconds one call of `function()` takes, and what it returned."""
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def elapsed(function: Callable[[], object]) -> float:
    """Seconds one call of `function()` takes (for writes, which cannot be repeated on the same rows)."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start
