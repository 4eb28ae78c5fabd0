"""``make test-faults``: a server fails under load; what did the clients see?

While a few clients list, read, create, change and delete customers, one of these
happens to the step's servers:

- ``outage``: PostgreSQL stops for OUTAGE seconds and starts again at the same address,
  as a real server restarts;
- ``killed``: every connection of the step is ended with ``pg_terminate_backend``, as a
  failover or an idle-connection killer does, while the server stays up;
- ``redis-down`` (cached steps): Redis is killed and started again, empty;
- ``redis-restarted`` (cached steps): Redis stops for OUTAGE seconds and comes back with
  every entry and version counter it had, as a Redis that persists does: the writes made
  meanwhile could not invalidate what it brings back;
- ``redis-paused`` (cached steps): Redis stops answering (``CLIENT PAUSE``);
- ``overload``: three times the step's capacity for 30 s (bench/overload.py, which has
  rules of its own).

A step served as instances behind HAProxy (step 10 on) meets three more:

- ``instance-killed``: one instance is killed (SIGKILL), as a crash ends it. The requests
  it held, and those sent to it as it died, fail; HAProxy takes it out of the rotation
  after its failed health checks, and from then on no request may fail. How many failed
  before is reported, and how long HAProxy took;
- ``rolling-restart``: every instance in turn is drained (HAProxy sends it nothing new
  and waits for the requests it holds), stopped (SIGTERM: uvicorn answers what it still
  holds before it exits), started again and put back once healthy: a deploy, in which no
  request may fail at all;
- ``pgbouncer-restarted``: PgBouncer stops for OUTAGE seconds and starts again, as an
  upgrade restarts it: 503s while it is down, as in an outage, and no other 5xx.

A step that reads from a replica (step 11 on) meets two more:

- ``replica-stopped``: the replica stops for OUTAGE seconds and starts again: its reads
  go to the primary meanwhile, with no error at all, and to the replica again once it
  is back (``replica_reads_after`` counts them);
- ``replica-lagging``: the replica applies every transaction LAG_MS after the primary
  committed it, for OUTAGE seconds: no client may read older data than its own write.

Every request is recorded: when it started and ended, what it did, what it got. The
rules a step keeps (``broken_rules`` says which are broken, in plain words):

1. no answer is a 5xx, except a 503 while PostgreSQL, or PgBouncer in front of it, is
   unreachable, and the 502s of the requests a killed instance held or was sent
   before HAProxy took it out;
   Redis is only a cache, so its faults allow none, nor does a deploy;
2. every request gets an answer, and while the fault lasts within the pool's timeout:
   no hang;
3. health answers 503 while PostgreSQL or PgBouncer is down;
4. no request fails that starts after the fault ends: RECOVERY_S seconds after
   PostgreSQL or PgBouncer is back, at once after the others (a pool hands out no dead
   connection, HAProxy sends nothing to an instance it has taken out);
5. every write the API acknowledged (201, 200, 204) is in the database afterwards, and
   the API reads it back so: checked customer by customer, and the first page of the
   listing the clients kept reading is the database's. A stale cache breaks this one.
   Each rename is read back at once by the client that made it, which must read its own
   write, lag or no lag (a read replica, step 11 on).

The load comes from Python rather than k6 because rule 5 needs every acknowledged write
by name. The figures go to ``docs/results/reliability.json``; the Reliability page is
drawn from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import os
import random
import time
from collections.abc import Iterator

import httpx
import psycopg
import redis

from bench import (
    balancer,
    database,
    net,
    overload,
    paths,
    pgbouncer,
    replica,
    results,
    serve,
    services,
    steps,
    variables,
)

RESULT = results.RESULTS_DIR / "reliability.json"
# What two runs must share for one file to hold the figures of both.
SAME_SETTINGS = (
    "customers", "clients", "outage_s", "overload_s", "recovery_rule_s", "pool_timeout_s",
)  # fmt: skip
DATABASE_FAULTS = ("outage", "killed")
REDIS_FAULTS = ("redis-down", "redis-restarted", "redis-paused")
# Three times the step's capacity for 30 s: bench/overload.py, with rules of its own.
OVERLOAD = "overload"
KILLED_INSTANCE, ROLLING, PGBOUNCER_RESTART = (
    "instance-killed",
    "rolling-restart",
    "pgbouncer-restarted",
)
FLEET_FAULTS = (KILLED_INSTANCE, ROLLING, PGBOUNCER_RESTART)
REPLICA_STOPPED, REPLICA_LAGGING = "replica-stopped", "replica-lagging"
REPLICA_FAULTS = (REPLICA_STOPPED, REPLICA_LAGGING)
FAULTS = (*DATABASE_FAULTS, *REDIS_FAULTS, *FLEET_FAULTS, *REPLICA_FAULTS, OVERLOAD)
# How far behind the lagging replica applies the primary's transactions: far beyond the
# milliseconds between a write's answer and the client's next read.
LAG_MS = 500
# The faults that leave the app without a database for a while: a 503 is its answer.
UNREACHABLE = (*DATABASE_FAULTS, PGBOUNCER_RESTART)
# The faults after which a server needs a moment to take connections again.
RESTARTS = ("outage", PGBOUNCER_RESTART)
CUSTOMERS, SEED, PREFIX = 20_000, 13, "crm_faults"
CLIENTS = 4
# Seeded customers each client renames, among those every client reads.
RENAMED = 5
# The steps' POOL_TIMEOUT (config/settings.py), and what a busy 2-core machine may add.
POOL_TIMEOUT_S = 5
SLACK_S = 2
RECOVERY_S = 5
CLIENT_TIMEOUT_S = 30
BODY = json.loads((paths.ROOT / "k6" / "customer.json").read_text())
ACKNOWLEDGED = {"create": 201, "patch": 200, "delete": 204}
LIST = "/api/customers/"


@dataclasses.dataclass(frozen=True)
class Settings:
    steady_s: float = 5
    outage_s: float = 10
    after_s: float = 15
    overload_s: float = overload.LOAD_S

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Settings:
        """OUTAGE (seconds) sets how long a fault lasts; the load runs around it."""
        raw = variables.given("OUTAGE", env)
        try:
            outage = float(raw) if raw else cls.outage_s
        except ValueError:
            raise SystemExit(f"OUTAGE: {raw!r} is not a number of seconds") from None
        if not 1 <= outage <= 120:
            raise SystemExit(f"OUTAGE: {raw} s is outside 1-120 s")
        return cls(outage_s=outage, after_s=max(RECOVERY_S + 5, outage))


@dataclasses.dataclass
class Call:
    started: float
    ended: float
    action: str
    status: int | None  # None: no answer (a timeout, a refused connection)


@dataclasses.dataclass
class Written:
    """One customer a client wrote, and which of its writes the API acknowledged."""

    customer_id: str
    id: int | None = None
    last_name: str | None = None
    deleted: bool = False
    # A write that got no answer, or a 5xx, may have happened all the same (the
    # connection can die between the commit and the answer): what follows is unknown.
    unsure: bool = False


class Load:
    """CLIENTS clients, each doing one thing after another until told to stop."""

    def __init__(self, base_url: str, ids: list[int]):
        self.base_url = base_url
        self.ids = ids
        self.calls: list[Call] = []
        self.written: list[Written] = []
        # Reads of a client's own write, made right after it, that showed older data.
        self.stale_own_reads: list[str] = []
        self.running = True
        self.numbers = itertools.count(1)
        self.random = random.Random(SEED)

    async def call(self, client: httpx.AsyncClient, action: str, method: str, path: str, **kw):
        started = time.monotonic()
        try:
            response = await client.request(method, self.base_url + path, **kw)
        except httpx.HTTPError:
            response = None
        status = response.status_code if response is not None else None
        self.calls.append(Call(started, time.monotonic(), action, status))
        return response

    async def acknowledged(self, client, mine: Written, action: str, method: str, path: str, **kw):
        """The answer if the API acknowledged the write; an unclear one leaves ``mine``
        unsure."""
        response = await self.call(client, action, method, path, **kw)
        if response is None or response.status_code >= 500:
            mine.unsure = True
        if response is not None and response.status_code == ACKNOWLEDGED[action]:
            return response
        return None

    async def write(self, client: httpx.AsyncClient) -> None:
        mine = Written(f"FAULT-{next(self.numbers):06d}")
        self.written.append(mine)
        body = {**BODY, "customer_id": mine.customer_id}
        created = await self.acknowledged(client, mine, "create", "POST", LIST, json=body)
        if created is None:
            return
        mine.id = created.json()["id"]
        path = f"{LIST}{mine.id}/"
        name = f"Changed {mine.id}"
        changed = {"last_name": name}
        if await self.acknowledged(client, mine, "patch", "PATCH", path, json=changed) is None:
            return
        mine.last_name = name
        if self.random.random() < 0.5:
            deleted = await self.acknowledged(client, mine, "delete", "DELETE", path)
            mine.deleted = deleted is not None

    async def rename(self, client: httpx.AsyncClient, mine: Written) -> None:
        """Rename a seeded customer the other clients read, so that its cached detail
        and the listings must follow the write."""
        name = f"Renamed {next(self.numbers)}"
        path = f"{LIST}{mine.id}/"
        body = {"last_name": name}
        if await self.acknowledged(client, mine, "patch", "PATCH", path, json=body) is not None:
            # One client owns the customer and writes in turn: the last answer is final.
            mine.last_name, mine.unsure = name, False
            read = await self.call(client, "detail", "GET", path)
            if read is not None and read.status_code == 200 and read.json()["last_name"] != name:
                self.stale_own_reads.append(
                    f"{mine.customer_id}: read {read.json()['last_name']!r}"
                )

    async def client(self, owned: list[int]) -> None:
        renamed = [Written(f"SEEDED-{id}", id=id) for id in owned]
        self.written += renamed
        async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT_S) as client:
            while self.running:
                roll = self.random.random()
                if roll < 0.4:
                    await self.call(client, "list", "GET", LIST)
                elif roll < 0.8:
                    customer = self.random.choice(self.ids)
                    await self.call(client, "detail", "GET", f"{LIST}{customer}/")
                elif roll < 0.9 and renamed:
                    await self.rename(client, self.random.choice(renamed))
                else:
                    await self.write(client)


@dataclasses.dataclass
class Window:
    """When the fault began and ended (monotonic seconds), and health meanwhile."""

    down: float
    back: float
    health: int | None = None
    # The reads the replica had answered when it was back (replica-stopped).
    replica_reads: int | None = None


def terminate(url: str) -> int:
    """End every connection to the step's database but this one; how many were ended."""
    with psycopg.connect(url, autocommit=True) as conn:
        query = (
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return conn.execute(query).fetchone()[0]


@contextlib.contextmanager
def redis_paused(redis_url: str, seconds: float) -> Iterator[None]:
    """Every Redis client waits, as behind a stalled network, for ``seconds``.

    The pause ends by itself: a paused server may hold back an UNPAUSE too.
    """
    client = redis.Redis.from_url(redis_url)
    ends = time.monotonic() + seconds
    client.execute_command("CLIENT", "PAUSE", int(seconds * 1000), "ALL")
    client.close()
    try:
        yield
    finally:
        time.sleep(max(0.0, ends - time.monotonic()))


@contextlib.contextmanager
def replica_down(database_url: str) -> Iterator[None]:
    """Stop the replica, and start it again on the way out."""
    replica.stop()
    try:
        yield
    finally:
        replica.ensure(database_url)


@contextlib.contextmanager
def replica_lagging(database_url: str) -> Iterator[None]:
    """The replica applies each transaction LAG_MS late, until the way out."""
    replica.ensure(database_url, LAG_MS)
    try:
        yield
    finally:
        replica.ensure(database_url)


@contextlib.contextmanager
def pgbouncer_down(database_url: str) -> Iterator[None]:
    """Stop PgBouncer, and start it again on the way out at its address."""
    pgbouncer.stop()
    try:
        yield
    finally:
        pgbouncer.ensure(database_url)


# --8<-- [start:restart]
def restart(front: int, instance: serve.Instance) -> None:
    """One instance of a deploy: out of the rotation with nothing in flight, stopped,
    started again, and back in the rotation once HAProxy's checks pass."""
    balancer.set_state(front, instance.name, "drain")
    net.wait_until(
        lambda: balancer.in_flight(front, instance.name) == 0,
        CLIENT_TIMEOUT_S,
        f"{instance.name} still holds requests {CLIENT_TIMEOUT_S} s after it was drained",
    )
    instance.stop()
    instance.start()
    balancer.set_state(front, instance.name, "ready")
    net.wait_until(
        lambda: balancer.servers_up(front)[instance.name],
        CLIENT_TIMEOUT_S,
        f"{instance.name} is not back in HAProxy's rotation after its restart",
    )


# --8<-- [end:restart]


def kill_instance(front: int, instance: serve.Instance) -> None:
    """Kill the instance; return once HAProxy has taken it out of the rotation."""
    instance.kill()
    net.wait_until(
        lambda: not balancer.servers_up(front)[instance.name],
        CLIENT_TIMEOUT_S,
        f"HAProxy still sends requests to {instance.name} after it was killed",
    )


def fault_context(fault: str, url: str, redis_url: str | None, settings: Settings):
    if fault == "outage":
        return services.postgres_down()
    if fault == PGBOUNCER_RESTART:
        return pgbouncer_down(url)
    if fault == REPLICA_STOPPED:
        return replica_down(url)
    if fault == REPLICA_LAGGING:
        return replica_lagging(url)
    if fault in ("redis-down", "redis-restarted"):
        return services.redis_down(keep_data=fault == "redis-restarted")
    return redis_paused(redis_url, settings.outage_s)


async def inflict(
    fault: str, base_url: str, url: str, redis_url: str | None, settings, fleet: list
) -> Window:
    """Cause ``fault`` and undo it; when it lasted, and what health said meanwhile. For an
    instance killed, it lasts until HAProxy has taken the instance out of the rotation;
    for a rolling restart, until the last instance is back in it."""
    front = balancer.front_of(base_url)
    down = time.monotonic()
    if fault == "killed":
        await asyncio.to_thread(terminate, url)
        return Window(down, time.monotonic())
    if fault == KILLED_INSTANCE:
        await asyncio.to_thread(kill_instance, front, fleet[0])
        return Window(down, time.monotonic())
    if fault == ROLLING:
        for instance in fleet:
            await asyncio.to_thread(restart, front, instance)
        return Window(down, time.monotonic())
    context = fault_context(fault, url, redis_url, settings)
    await asyncio.to_thread(context.__enter__)
    window = Window(time.monotonic(), 0.0)
    try:
        await asyncio.sleep(settings.outage_s / 2)
        window.health = await asyncio.to_thread(net.health_status, base_url, CLIENT_TIMEOUT_S)
        await asyncio.sleep(settings.outage_s / 2)
    finally:
        await asyncio.to_thread(context.__exit__, None, None, None)
    if fault == REPLICA_STOPPED:
        window.replica_reads = await asyncio.to_thread(replica_reads, url)
    window.back = time.monotonic()
    return window


def replica_reads(url: str) -> int:
    """The reads of the step's customers the replica has answered."""
    return replica.reads(replica.same_database(replica.ensure(url), url))


def reads_since(url: str, before: int) -> int:
    """The replica's reads since ``before``, waiting a little for its statistics, which
    reach the view within seconds."""
    with contextlib.suppress(TimeoutError):
        net.wait_until(lambda: replica_reads(url) > before, 15, "no read", interval=1)
    return replica_reads(url) - before


async def under_load(
    base_url: str,
    url: str,
    redis_url: str | None,
    ids: list[int],
    fault: str,
    settings,
    fleet: list | None = None,
) -> tuple[Load, Window]:
    load = Load(base_url, ids)
    # Each client renames a few seeded customers of its own among those all of them read.
    owned = ids[: CLIENTS * RENAMED]
    clients = [asyncio.create_task(load.client(owned[i::CLIENTS])) for i in range(CLIENTS)]
    try:
        await asyncio.sleep(settings.steady_s)
        window = await inflict(fault, base_url, url, redis_url, settings, fleet or [])
        await asyncio.sleep(settings.after_s)
    finally:
        load.running = False
        await asyncio.gather(*clients)
    return load, window


def grace(fault: str) -> float:
    """How long after the fault ends a request may still fail: a restarted server needs
    a moment to take connections; a killed connection or a Redis fault needs none."""
    return RECOVERY_S if fault in RESTARTS else 0.0


def failed(call: Call) -> bool:
    return call.status is None or call.status >= 500


def judge(fault: str, load: Load, window: Window, reads: list[str], lost: list[str]) -> dict:
    during = [c for c in load.calls if window.down <= c.started < window.back]
    failing_after = [c for c in load.calls if c.started >= window.back and failed(c)]
    # Redis is a cache: with PostgreSQL up, even a 503 is a failure.
    allowed = {503} if fault in UNREACHABLE else set()
    # A killed instance loses the requests it held when it died, and those HAProxy sent
    # it while it was dying (the kernel had taken the connection, the process was gone):
    # HAProxy answers them 502, or closes the client's connection when the request went
    # over a connection it had kept open to the instance. Until its health checks take
    # the instance out, such failures are reported and not judged: no balancer can save
    # a request its server died holding. From then on every request is judged.
    lost_with_it = (
        [
            c
            for c in load.calls
            if c.started < window.back and c.ended >= window.down and c.status in (502, None)
        ]
        if fault == KILLED_INSTANCE
        else []
    )
    forgiven = {id(c) for c in lost_with_it}
    judged = [c for c in load.calls if id(c) not in forgiven]
    return {
        "requests": len(load.calls),
        "window_s": round(window.back - window.down, 2),
        "during_fault": len(during),
        **({"failed_before_removed": len(lost_with_it)} if fault == KILLED_INSTANCE else {}),
        "unavailable": sum(c.status == 503 for c in judged),
        "server_errors": sum(
            c.status is not None and c.status >= 500 and c.status not in allowed for c in judged
        ),
        "unanswered": sum(c.status is None for c in judged),
        "slowest_during_s": round(max((c.ended - c.started for c in during), default=0.0), 2),
        "failed_after_recovery": sum(
            failed(c) for c in load.calls if c.started >= window.back + grace(fault)
        ),
        "recovery_s": round(
            max((c.ended for c in failing_after), default=window.back) - window.back, 2
        ),
        "health_during": window.health,
        "writes_acknowledged": sum(w.id is not None for w in load.written),
        "writes_lost": lost,
        "reads_wrong": reads,
        "own_reads_stale": load.stale_own_reads,
    }


def lost_writes(written: list[Written], url: str) -> list[str]:
    """The acknowledged writes the database does not hold, in plain words."""
    lost = []
    with psycopg.connect(url) as conn:
        for w in written:
            if w.id is None or w.unsure:
                continue
            row = conn.execute("SELECT last_name FROM app_user WHERE id = %s", [w.id]).fetchone()
            if w.deleted and row is not None:
                lost.append(f"{w.customer_id}: deleted, still there")
            elif not w.deleted and row is None:
                lost.append(f"{w.customer_id}: created, not there")
            elif not w.deleted and w.last_name is not None and row[0] != w.last_name:
                lost.append(f"{w.customer_id}: changed to {w.last_name!r}, reads {row[0]!r}")
    return lost


def wrong_reads(written: list[Written], base_url: str, url: str) -> list[str]:
    """Acknowledged writes the API does not show once all is well: a stale cache."""
    wrong = []
    with httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT_S) as client:
        for w in written:
            if w.id is None or w.unsure:
                continue
            response = client.get(f"{LIST}{w.id}/")
            if w.deleted:
                if response.status_code != 404:
                    wrong.append(f"{w.customer_id}: deleted, API answers {response.status_code}")
            elif response.status_code != 200:
                wrong.append(f"{w.customer_id}: created, API answers {response.status_code}")
            elif w.last_name and response.json()["last_name"] != w.last_name:
                wrong.append(f"{w.customer_id}: changed, API reads {response.text[:80]!r}")
        shown = [c["id"] for c in client.get(LIST).json()["results"]]
    with psycopg.connect(url) as conn:
        # The contract's default ordering, -created with ties broken by id.
        held = conn.execute(
            "SELECT id FROM app_user ORDER BY created DESC, id DESC LIMIT %s", [len(shown)]
        ).fetchall()
    if shown != [row[0] for row in held]:
        wrong.append(f"the first page lists {shown[:5]}…, the database {[r[0] for r in held[:5]]}…")
    return wrong


def broken_rules(fault: str, found: dict) -> list[str]:
    """The rules of the module's docstring that ``found`` breaks, in plain words."""
    broken = []
    if found["server_errors"]:
        kind = "5xx other than 503" if fault in UNREACHABLE else "5xx"
        broken.append(f"{found['server_errors']} answer(s) were {kind}")
    if found["unanswered"]:
        broken.append(f"{found['unanswered']} request(s) got no answer in {CLIENT_TIMEOUT_S} s")
    if found["slowest_during_s"] > POOL_TIMEOUT_S + SLACK_S:
        broken.append(
            f"a request took {found['slowest_during_s']} s during the fault,"
            f" more than the pool's {POOL_TIMEOUT_S} s timeout"
        )
    if fault in RESTARTS and found["health_during"] != 503:
        broken.append(f"health answered {found['health_during']} with the database down")
    if found["failed_after_recovery"]:
        broken.append(
            f"{found['failed_after_recovery']} request(s) failed that started"
            f" {grace(fault):g} s or more after the fault ended"
        )
    if found["writes_lost"]:
        broken.append(f"acknowledged writes lost: {'; '.join(found['writes_lost'][:3])}")
    if found["reads_wrong"]:
        broken.append(f"acknowledged writes read wrong: {'; '.join(found['reads_wrong'][:3])}")
    if stale := found.get("own_reads_stale"):
        broken.append(f"a client read older data than its own write: {'; '.join(stale[:3])}")
    if fault == REPLICA_STOPPED and not found.get("replica_reads_after"):
        broken.append("no read went to the replica once it was back")
    return broken


def faults_for(step: steps.Step, wanted: list[str]) -> list[str]:
    def applies(fault: str) -> bool:
        if fault in REDIS_FAULTS:
            return "redis" in step.services
        if fault == PGBOUNCER_RESTART:
            return "pgbouncer" in step.services
        if fault in REPLICA_FAULTS:
            # Only on the harness's own replica: it cannot stop or hold back yours.
            return "replica" in step.services and not replica.given()
        return fault not in FLEET_FAULTS or step.fleet

    return [fault for fault in wanted if applies(fault)]


def run_fault(step: steps.Step, fault: str, found: services.Services, settings) -> dict:
    url = database.prepare_step(found.database_url, step, CUSTOMERS, SEED, PREFIX, fresh=True)
    with psycopg.connect(url) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM app_user ORDER BY id LIMIT 500")]
    fleet: list[serve.Instance] = []
    with serve.running(step, url, found.redis_url, handed=fleet.extend) as base_url:
        load, window = asyncio.run(
            under_load(base_url, url, found.redis_url, ids, fault, settings, fleet)
        )
        # Before the checks below, whose own reads would count.
        back = window.replica_reads
        after = reads_since(url, back) if back is not None else None
        reads = wrong_reads(load.written, base_url, url)
    entry = judge(fault, load, window, reads, lost_writes(load.written, url))
    if after is not None:
        entry["replica_reads_after"] = after
    entry["broken"] = broken_rules(fault, entry)
    return entry


def describe(slug: str, fault: str, entry: dict) -> str:
    verdict = "; ".join(entry["broken"]) if entry["broken"] else "every rule kept"
    if fault == OVERLOAD:
        return (
            f"[faults] {slug} overload: {entry['offered_rps']:g} req/s offered against a"
            f" capacity of {entry['capacity_rps']:g}, {entry['unavailable']} 503,"
            f" p95 back to normal after {entry['recovery_s']:g} s: {verdict}"
        )
    if fault == KILLED_INSTANCE:
        verdict = f"{entry['failed_before_removed']} failed before HAProxy took it out; {verdict}"
    return (
        f"[faults] {slug} {fault}: {entry['requests']} requests, {entry['unavailable']} 503,"
        f" {entry['writes_acknowledged']} writes acknowledged, recovered in"
        f" {entry['recovery_s']:.1f} s: {verdict}"
    )


def check_embedded(found: services.Services, wanted: list[str]) -> None:
    if not found.embedded_postgres and set(wanted) & {"outage"}:
        raise SystemExit("test-faults stops PostgreSQL: unset DATABASE_URL to use the embedded one")
    if not found.embedded_redis and set(wanted) & {"redis-down"}:
        raise SystemExit("test-faults kills Redis: unset REDIS_URL to use the embedded one")


def measure(selected: list[steps.Step], wanted: list[str], settings: Settings) -> dict:
    found = services.ensure()
    check_embedded(found, wanted)
    measured = {}
    try:
        for step in selected:
            measured[step.slug] = {}
            for fault in faults_for(step, wanted):
                lasting = settings.overload_s if fault == OVERLOAD else settings.outage_s
                print(f"[faults] {step.slug} {fault}: {lasting:g} s under load", flush=True)
                if fault == OVERLOAD:
                    entry = overload.run_step(
                        step, found, CUSTOMERS, SEED, PREFIX, settings.overload_s
                    )
                else:
                    entry = run_fault(step, fault, found, settings)
                measured[step.slug][fault] = entry
                print(describe(step.slug, fault, entry), flush=True)
    finally:
        database.drop_all(services.ensure().database_url, PREFIX)
    return measured


def write(measured: dict, settings: Settings, started: dt.datetime, path=RESULT) -> None:
    """The figures of this run; a run narrowed to some steps or faults (STEPS, FAULTS)
    keeps the other figures of the file, made with the same settings, and ``made`` says
    which revision measured each step's each fault."""
    revision, dirty = results.git_revision()
    document = {
        "started_at": started.isoformat(timespec="seconds"),
        "wall_time_s": round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1),
        "git_revision": revision,
        "git_dirty": dirty,
        "customers": CUSTOMERS,
        "clients": CLIENTS,
        "outage_s": settings.outage_s,
        "overload_s": settings.overload_s,
        "recovery_rule_s": RECOVERY_S,
        "pool_timeout_s": POOL_TIMEOUT_S,
    }
    made_now = {"git_revision": revision, "git_dirty": dirty, "started_at": document["started_at"]}
    earlier = json.loads(path.read_text()) if path.is_file() else None
    comparable = earlier is not None and all(
        earlier.get(key) == document[key] for key in SAME_SETTINGS
    )
    before = earlier["steps"] if comparable else {}
    # Files written before "made" was kept: every step made with the file itself.
    made_before = (earlier.get("made") or {}) if comparable else {}
    whole_file = {key: earlier[key] for key in made_now} if comparable else made_now
    order = {step.slug: step.number for step in steps.discover()}
    document["steps"], document["made"] = {}, {}
    for slug in sorted({*before, *measured}, key=lambda slug: order.get(slug, 0)):
        now = measured.get(slug, {})
        entries = {**before.get(slug, {}), **now}
        if not entries:
            continue
        document["steps"][slug] = entries
        document["made"][slug] = {
            fault: made_now if fault in now else made_before.get(slug, {}).get(fault, whole_file)
            for fault in entries
        }
    path.write_text(json.dumps(document, indent=1) + "\n")


def main(env: dict[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    settings = Settings.from_env(env)
    wanted = [f.strip() for f in variables.given("FAULTS", env).split(",") if f.strip()]
    wanted = wanted or list(FAULTS)
    unknown = sorted(set(wanted) - set(FAULTS))
    if unknown:
        raise SystemExit(f"FAULTS: unknown {', '.join(unknown)}; choose from {', '.join(FAULTS)}")
    started = dt.datetime.now(dt.UTC)
    selected = serve.installed(steps.select_many(variables.given("STEPS", env)))
    measured = measure(selected, wanted, settings)
    write(measured, settings, started)
    broken = sorted(
        f"{slug} {fault}"
        for slug, entries in measured.items()
        for fault, entry in entries.items()
        if entry["broken"]
    )
    print(f"[faults] written: {RESULT}")
    if broken:
        print(f"[faults] rules broken on: {', '.join(broken)}", flush=True)
    return 1 if broken else 0
