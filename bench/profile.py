"""``make profile``: where a request's time goes, sampled under load.

py-spy samples the uvicorn workers of the last two steps (or of STEPS) while k6 runs
one scenario against them, then the ceiling's under the same scenario. Each sample is
put in the package of its innermost Python frame (a C extension's time shows in the
Python code that called it), and idle samples, a worker waiting for work, are left
out. The file it writes, ``docs/results/profile.json``, is what the ceiling page and the
step pages that explain a step's CPU render.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import ceiling, database, results, serve, services, steps, workload

PROFILE = results.RESULTS_DIR / "profile.json"
RATE_HZ = 250
FRAME = re.compile(r"\((?P<file>[^()]*?):\d+\)$")
SITE = re.compile(r"/site-packages/(?P<package>[A-Za-z0-9_]+)")
PROCESS = re.compile(r'process \d+:"[^"]*";?')
STDLIB = re.compile(r"/lib/python3\.\d+/(?P<module>[A-Za-z0-9_]+)")
# Packages shown under one name, whatever module of theirs the sample was in.
NAMES = {
    "django": "Django",
    "ninja": "django-ninja",
    "ninja_extra": "django-ninja-extra",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "psycopg": "psycopg",
    "psycopg_pool": "psycopg",
    "redis": "redis-py",
    "django_async_redis": "django-async-redis",
    "uvicorn": "uvicorn",
    "httptools": "uvicorn",
    "uvloop": "uvicorn",
    "asgiref": "asgiref",
    "injector": "injector",
    "kink": "kink",
}


NATIVE = "no Python frame on the stack"
# Groups taken together where a page says where a request's CPU goes: the request
# cycle around the view, with its thread hops, and the view itself.
SHARES = {
    "request_cycle": ("Django", "asgiref", "Python: threading", "Python: concurrent"),
    "view": ("django-ninja", "django-ninja-extra", "pydantic", "the step's code"),
    "threads": ("asgiref", "Python: threading", "Python: concurrent"),
}


def group_of(stack: str, own: dict[str, str]) -> str:
    """The group of one sampled stack: its innermost frame's package or code."""
    # With --subprocesses, each stack starts with its processes' command lines, which
    # may hold a ";" of their own (multiprocessing's "-c …; spawn_main(…)").
    frames = [f for f in PROCESS.sub("", stack).split(";") if f]
    if not frames:
        # A thread holds the GIL with no Python frame on its stack: compiled code
        # running on its own, or a thread starting or handing over. Named as seen, not
        # guessed at.
        return NATIVE
    match = FRAME.search(frames[-1])
    where = match.group("file") if match else ""
    for prefix, name in own.items():
        if where.startswith(prefix):
            return name
    if found := SITE.search(where):
        return NAMES.get(found.group("package"), found.group("package"))
    if found := STDLIB.search(where):
        return f"Python: {found.group('module')}"
    return "other"


def breakdown(raw: str, own: dict[str, str]) -> list[dict]:
    """py-spy's raw (collapsed) output as groups, the largest first."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counts[group_of(stack, own)] += int(count)
    total = sum(counts.values())
    return [
        {"name": name, "samples": samples, "share": round(samples / total, 4)}
        for name, samples in counts.most_common()
    ]


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not found:
        raise workload.BenchError("py-spy not found: `make venv` installs it from PyPI")
    return found


def sampled(base_url: str, url: str, terms: Path, scenario: str, settings, server_pid: int):
    """Run ``scenario`` with k6 while py-spy samples the server's processes."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "samples.txt"
        spy = subprocess.Popen(
            [
                py_spy(), "record", "--pid", str(server_pid), "--subprocesses",
                "--rate", str(RATE_HZ), "--format", "raw", "--nonblocking",
                # Whole paths, to tell packages apart; only samples holding the GIL,
                # since a thread waiting in a pool's queue is not spending CPU.
                "--full-filenames", "--gil",
                "--duration", str(int(settings.duration_s)), "--output", str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        summary = workload.k6(base_url, terms, scenario, settings, settings.duration_s)
        _, errors = spy.communicate(timeout=workload.K6_GRACE_S)
        workload.settle(url)
        if spy.returncode != 0 or not raw.exists():
            raise workload.BenchError(f"py-spy failed ({spy.returncode}): {errors[-1000:]}")
        return summary, raw.read_text()


def per_request(samples: int, requests: int) -> float:
    """Busy CPU per request, in ms: a sample is 1/RATE_HZ s of one thread's time."""
    return round(samples / RATE_HZ * 1000 / requests, 4)


# How long each target is sampled unless DURATION says otherwise: a few thousand samples.
DURATION_S = 10


def default_steps() -> list[steps.Step]:
    """The last two steps served as one server: py-spy samples one server's process
    tree, and a step behind a load balancer runs the code of the step before it."""
    return [step for step in steps.discover() if not step.fleet][-2:]


def profile(
    customers: int,
    seed_value: int,
    scenario: str,
    settings,
    prefix: str = "crm",
    selected: list[steps.Step] | None = None,
) -> dict:
    """Each selected step (by default the last two), then the ceiling on the last one's
    data, one after the other: a step against the ceiling says what Django costs, against
    the step before it what the step's own change costs. A page that explains a step's
    cost needs that step and the one before it profiled in the same file."""
    started = time.perf_counter()
    found = services.ensure(redis=True)
    chosen = list(selected or default_steps())
    last = chosen[-1]
    terms = database.terms_path(database.base_fingerprint(customers, seed_value))
    targets = {}
    for name, step in [*((step.slug, step) for step in chosen), ("ceiling", last)]:
        url = database.prepare_step(found.database_url, step, customers, seed_value, prefix)
        own = {str(step.path) + "/": "the step's code", str(ceiling.APP_DIR) + "/": "the ceiling"}
        server: list[subprocess.Popen] = []
        runner = (
            ceiling.running(step, url, found.redis_url, started=server.append)
            if name == "ceiling"
            else serve.running(step, url, found.redis_url, started=server.append)
        )
        with runner as base_url:
            # Warm: pools filled, caches holding what the scenario repeats.
            workload.k6(base_url, terms, scenario, settings, settings.warmup_s)
            workload.settle(url)
            summary, raw = sampled(base_url, url, terms, scenario, settings, server[0].pid)
        groups = breakdown(raw, own)
        requests = int(summary["requests"])
        samples = sum(group["samples"] for group in groups)
        targets[name] = {
            "requests_per_second": summary["requests_per_second"],
            "requests": requests,
            "errors": int(summary["errors"]),
            "samples": samples,
            "cpu_ms_per_request": per_request(samples, requests),
            "groups": [
                {**g, "ms_per_request": per_request(g["samples"], requests)} for g in groups
            ],
        }
        print(
            f"[profile] {name}: {summary['requests_per_second']:.1f} req/s,"
            f" {targets[name]['cpu_ms_per_request']:.2f} ms of CPU per request:",
            flush=True,
        )
        for group in targets[name]["groups"][:8]:
            share, ms = group["share"], group["ms_per_request"]
            print(f"[profile]   {share:6.1%} {ms:7.3f} ms  {group['name']}", flush=True)
    revision, dirty = results.git_revision()
    command = f"make profile SCENARIO={scenario}"
    if [step.slug for step in chosen] != [step.slug for step in default_steps()]:
        command += f" STEPS={','.join(str(step.number) for step in chosen)}"
    if settings.duration_s != DURATION_S:
        command += f" DURATION={settings.duration_s:g}"
    return {
        "made": dt.datetime.now(dt.UTC).isoformat(),
        "command": command,
        "git_revision": revision,
        "git_dirty": dirty,
        "machine": results.machine(),
        "customers": customers,
        "scenario": scenario,
        "vus": settings.vus,
        "duration_s": settings.duration_s,
        "rate_hz": RATE_HZ,
        # The steps profiled, in order; the ceiling ran on the last one's data.
        "steps": [step.slug for step in chosen],
        "step": last.slug,
        # The ceiling cached where the last step caches (bench/ceiling/app.py).
        "ceiling_cached": "redis" in last.services,
        "targets": targets,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }


def write(found: dict, path: Path = PROFILE) -> Path:
    path.write_text(json.dumps(found, indent=1, ensure_ascii=False) + "\n")
    return path
