"""The progress line of a long run: where it is, how long it took, how long is left."""

from __future__ import annotations

import time


class Progress:
    """One line per finished piece: where the run is, how long it took, how long is left.

    The plan counts pieces of a few kinds: k6 seconds (warm-ups and scenarios), steps
    to prepare (a database cloned and migrated), servers to start, untimed passes. Each
    kind's time per piece is learned as its pieces finish; until then its default from
    ``PER_PIECE_S`` stands. The time between two lines is the later piece's.
    """

    def __init__(self, plan: dict[str, float], per_piece_s: dict[str, float] | None = None):
        self.started = self.mark = time.perf_counter()
        self.plan = dict(plan)
        self.default = {**PER_PIECE_S, **(per_piece_s or {})}
        self.done = dict.fromkeys(self.plan, 0.0)
        self.spent = dict.fromkeys(self.plan, 0.0)

    def per_piece(self, kind: str) -> float:
        return self.spent[kind] / self.done[kind] if self.done[kind] else self.default[kind]

    def left_s(self) -> float:
        return sum(
            max(0.0, planned - self.done[kind]) * self.per_piece(kind)
            for kind, planned in self.plan.items()
        )

    def replan(self, left: dict[str, float]) -> None:
        """What is left, as the run knows it now (a repeat found unnecessary is dropped)."""
        for kind, pieces in left.items():
            self.plan[kind] = self.done[kind] + pieces

    def advance(self, pieces: float, message: str, kind: str = "k6") -> None:
        now = time.perf_counter()
        self.done[kind] += pieces
        self.spent[kind] += now - self.mark
        self.mark = now
        elapsed = now - self.started
        print(
            f"[bench] {message}  · elapsed {clock(elapsed)} · ETA {clock(self.left_s())}",
            flush=True,
        )

    def spending(self) -> str:
        """Where the time went, by kind, as the run's last line says it."""
        return ", ".join(f"{kind} {clock(seconds)}" for kind, seconds in self.spent_s().items())

    def spent_s(self) -> dict[str, float]:
        """Seconds by kind of work done, for the result file (run.spent_s)."""
        return {kind: round(self.spent[kind], 1) for kind in self.plan if self.done[kind]}


# What one piece of each kind takes on a 2-core machine before the run has timed one:
# a second of k6 costs a little more (its start, the settle after it); a step's database
# is cloned and migrated; a server starts; the untimed pass of a step without extras.
PER_PIECE_S = {"k6": 1.3, "seed": 1.0, "prepare": 8.0, "boot": 3.0, "probe": 12.0}


def per_piece_estimates(
    customers: int, seeded: tuple[int, int] | None, details: bool
) -> dict[str, float]:
    """The defaults scaled to the data set: seeding and migrating grow with the rows (a
    base of another size is seeded again); the extras add micro-benchmarks and probes."""
    return {
        "seed": 1.0 if seeded and seeded[0] == customers else 2.0 + customers * 1e-5,
        "prepare": 4.0 + customers * 4e-5,
        "probe": (8.0 + customers * 4e-5) * (6 if details else 1),
    }


def clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"
