"""CPU time per request, by process: the app's server, PostgreSQL, Redis, the proxies
(HAProxy and PgBouncer, where a step runs behind them) and k6.

On the reference box every process of a run shares two cores, so req/s alone cannot
say which one a step's time went to. The kernel can: each process's user and system
time (``/proc/<pid>/stat``), summed over its process tree. A tree's exited processes
count too, through their parent's ``cutime``/``cstime`` (a PostgreSQL backend that
closed during the scenario, a uvicorn worker restarted). k6 is a child of the harness,
reaped when the scenario ends: its time is this process's children's time
(``getrusage``) across the run.

What the harness does not run has no figure: PostgreSQL or Redis behind
``DATABASE_URL``/``REDIS_URL`` (another machine's CPU, or one shared with others), and
the server of ``make measure``. Linux only; elsewhere every figure is None.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from pathlib import Path

PROC = Path("/proc")
# The processes measured, in the order results show them: "replica" is the read
# replica of a step that reads from one; "proxies" is HAProxy and PgBouncer, in front of
# and behind a step served as instances (serve.fleet).
PARTS = ("app", "postgresql", "replica", "redis", "proxies", "k6")


def _ticks_per_second() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError, AttributeError):
        return 100


TICKS = _ticks_per_second()


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children), or None if gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces and parentheses of its own.
    fields = text[text.rindex(")") + 2 :].split()
    # After the name: state, ppid, … utime (14th field of the line), stime, cutime, cstime.
    parent = int(fields[1])
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return parent, (utime + stime + cutime + cstime) / TICKS


def tree_seconds(root: int) -> float | None:
    """CPU seconds of ``root`` and every process below it; None if ``root`` is gone."""
    stats = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (found := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = found
    if root not in stats:
        return None
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats[pid][1]
        todo.extend(children.get(pid, []))
    return total


def children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Meter:
    """Reads the CPU seconds of the processes a scenario runs on.

    ``roots`` maps a part (``app``, ``postgresql``, ``redis``) to a function that
    returns the pid at the top of its tree, the pids of several trees (the app instances
    of a step behind a load balancer), or None when the harness does not run it. The
    app's pids are known only once its servers have started, hence functions.
    """

    def __init__(self, roots: dict[str, Callable[[], int | list[int] | None]]):
        self.roots = roots

    def read(self) -> dict[str, float | None]:
        if not PROC.is_dir():
            return dict.fromkeys(PARTS)
        seconds: dict[str, float | None] = {}
        for part in PARTS[:-1]:
            found = self.roots[part]() if part in self.roots else None
            pids = [found] if isinstance(found, int) else list(found or [])
            trees = [tree_seconds(pid) for pid in pids]
            seconds[part] = sum(trees) if trees and None not in trees else None
        seconds["k6"] = children_seconds()
        return seconds


def per_request(
    before: dict[str, float | None], after: dict[str, float | None], requests: int
) -> dict[str, float | None]:
    """Milliseconds of CPU per request of each part between two readings."""

    def share(part: str) -> float | None:
        start, end = before.get(part), after.get(part)
        # A tree that shrank (its top restarted) has no figure, rather than a free one.
        if start is None or end is None or end < start or not requests:
            return None
        return round((end - start) * 1000 / requests, 3)

    return {part: share(part) for part in PARTS}
