"""Overload: three times what a step can carry, for LOAD_S seconds. Does it live, and recover?

Its capacity is measured first, on the same data: the mixed blend under the bench's 8
closed-model virtual users. Then k6's open model sends three times that rate, whatever
the latency, adding virtual users up to MAX_VUS to keep the arrivals coming, as
impatient clients do. Meanwhile one client of our own reads a list page and a detail in
turn, before, during and after, to see when latency comes back.

The rules a step keeps (``broken_rules``):

1. the server process lives, and health answers 200 once the load ends;
2. no answer is a 5xx other than 503: a pool with no connection free says 503, never
   500, and PostgreSQL's "too many clients" never reaches a client;
3. from RECOVERY_S seconds after the load ends, the one client's p95 is back to what it
   was before (within NORMAL_FACTOR, or NORMAL_FLOOR_MS on very quick requests); "before"
   starts once the server has answered for WARMUP_S seconds, so that a worker's first
   requests do not make the normal look slow.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import httpx
import psycopg

from bench import database, net, run, serve, services, steps, workload

CAPACITY_S = 10
LOAD_FACTOR = 3
LOAD_S = 30
BEFORE_S = 5
# The client's first requests reach workers that have not answered yet (imports, the
# first connection, Django's URL resolver): their seconds are not the step's normal.
WARMUP_S = 3
RECOVERY_S = 10
AFTER_S = 20
MAX_VUS = 300
NORMAL_FACTOR = 2.0
NORMAL_FLOOR_MS = 20.0
CLIENT_TIMEOUT_S = 60


@dataclasses.dataclass
class Sample:
    started: float
    ms: float
    status: int | None


class Client(threading.Thread):
    """One client reading a list page and a detail in turn until told to stop."""

    def __init__(self, base_url: str, ids: list[int]):
        super().__init__(daemon=True)
        self.base_url = base_url
        self.ids = ids
        self.samples: list[Sample] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        paths = ["/api/customers/", *(f"/api/customers/{i}/" for i in self.ids)]
        with httpx.Client(base_url=self.base_url, timeout=CLIENT_TIMEOUT_S) as client:
            for turn in range(1_000_000):
                if self.stopping.is_set():
                    return
                path = paths[0] if turn % 2 == 0 else paths[1 + (turn // 2) % (len(paths) - 1)]
                started = time.monotonic()
                try:
                    status = client.get(path).status_code
                except httpx.HTTPError:
                    status = None
                self.samples.append(Sample(started, (time.monotonic() - started) * 1000, status))

    def stop(self) -> None:
        self.stopping.set()
        self.join()


def p95(samples: list[Sample]) -> float | None:
    times = sorted(s.ms for s in samples)
    return times[min(len(times) - 1, int(0.95 * len(times)))] if times else None


def normal(before_ms: float) -> float:
    return max(before_ms * NORMAL_FACTOR, NORMAL_FLOOR_MS)


def recovery_s(samples: list[Sample], ended: float, limit_ms: float) -> float | None:
    """Seconds after the load ended from which every whole second's p95 is normal."""
    last = max((s.started for s in samples), default=ended)
    bad = [
        second
        for second in range(int(last - ended) + 1)
        if (found := p95([s for s in samples if second <= s.started - ended < second + 1]))
        and found > limit_ms
    ]
    return float(max(bad) + 1) if bad else 0.0


def judge(before: list[Sample], client: Client, ended: float, load: dict, live: dict) -> dict:
    before_p95 = p95(before) or 0.0
    after = [s for s in client.samples if s.started >= ended + RECOVERY_S]
    return {
        "capacity_rps": round(live["capacity_rps"], 1),
        "offered_rps": round(live["offered_rps"], 1),
        "requests": int(load["requests"] or 0),
        "answered_rps": round(load["requests_per_second"] or 0.0, 1),
        "unavailable": int(load.get("unavailable", 0)),
        "server_errors": int(load.get("server_errors", 0))
        + sum(s.status is not None and s.status >= 500 and s.status != 503 for s in client.samples),
        "unanswered": int(load.get("unanswered", 0)),
        "dropped_iterations": int(load["dropped_iterations"] or 0),
        "p95_under_load_ms": load["latency_ms"]["p95"],
        "p95_before_ms": round(before_p95, 1),
        "p95_after_ms": round(p95(after) or 0.0, 1),
        "recovery_s": recovery_s(client.samples, ended, normal(before_p95)),
        "alive": live["alive"],
        "health_after": live["health"],
    }


def broken_rules(found: dict) -> list[str]:
    broken = []
    if not found["alive"]:
        broken.append("the server process died")
    if found["health_after"] != 200:
        broken.append(f"health answered {found['health_after']} after the load")
    if found["server_errors"]:
        broken.append(f"{found['server_errors']} answer(s) were 5xx other than 503")
    limit = normal(found["p95_before_ms"])
    if found["p95_after_ms"] > limit:
        broken.append(
            f"p95 {found['p95_after_ms']:.1f} ms from {RECOVERY_S} s after the load, against"
            f" {found['p95_before_ms']:.1f} ms before (normal: up to {limit:.1f} ms)"
        )
    return broken


def run_step(
    step: steps.Step,
    found: services.Services,
    customers: int,
    seed: int,
    prefix: str,
    load_s: float = LOAD_S,
):
    url = database.prepare_step(found.database_url, step, customers, seed, prefix, fresh=True)
    terms = database.terms_path(database.base_fingerprint(customers, seed))
    with psycopg.connect(url) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM app_user ORDER BY id LIMIT 50")]
    settings = run.Settings.from_env({"SCENARIOS": "mixed"})
    servers = []
    with serve.running(step, url, found.redis_url, started=servers.append) as base_url:
        before = Client(base_url, ids)
        before.start()
        time.sleep(WARMUP_S)
        warm = time.monotonic()
        time.sleep(BEFORE_S)
        before.stop()
        normal_samples = [sample for sample in before.samples if sample.started >= warm]
        capacity = workload.k6(base_url, terms, "mixed", settings, CAPACITY_S)[
            "requests_per_second"
        ]
        # k6 takes whole arrivals per second.
        rate = max(1, round(LOAD_FACTOR * capacity))
        offered = dataclasses.replace(settings, open_rate=rate, max_vus=MAX_VUS)
        client = Client(base_url, ids)
        client.start()
        load = workload.k6(base_url, terms, workload.OPEN, offered, load_s)
        ended = time.monotonic()
        time.sleep(AFTER_S)
        client.stop()
        live = {
            "capacity_rps": capacity,
            "offered_rps": offered.open_rate,
            "alive": servers[0].poll() is None,
            "health": net.health_status(base_url, CLIENT_TIMEOUT_S),
        }
    entry = judge(normal_samples, client, ended, load, live)
    entry["broken"] = broken_rules(entry)
    return entry
