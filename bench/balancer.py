"""HAProxy in front of several app instances: one address for every client.

HAProxy, because it is the load balancer whose open-source build checks its backends
actively: it asks each instance for ``/api/health/`` every second, takes one that stops
answering out of the rotation after two failures and back after two successes, and
sends a request whose connection was refused to another instance. nginx's open-source
build only notices a dead backend when a client's request fails on it.

PyPI ships no HAProxy: it comes from the operating system (``INSTALL``). The harness runs
it as it runs the embedded servers (``bench/services.py``): its configuration under
``.cache/haproxy/``, shown by ``make services-status`` and stopped by
``make services-stop``. Each set of instances gets a front of its own, on its own port,
so that two of them (make serve beside a test run) never take each other's address.
Adding or releasing a front rewrites the configuration and reloads it: HAProxy's new
process takes the ports over and the old one finishes the requests it holds. It stops
with its last front.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from bench import net, paths, services, variables

INSTALL = "apt-get install haproxy (Debian, Ubuntu) or brew install haproxy (macOS)"
DIR = paths.CACHE_DIR / "haproxy"
PORT = int(variables.number("CRM_BALANCER_PORT", kind=int))
SYSTEM_PATHS = ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")
# How often each instance is asked whether it is healthy, in milliseconds, and after
# how many answers in a row it leaves or joins the rotation.
CHECK_EVERY_MS = 1000
FALL = 2
RISE = 2


# HAProxy's own error answers: the status, and what its detail says.
ERRORS = {
    502: "an app instance failed to answer",
    503: "no app instance is available; try again shortly",
    504: "the app instance did not answer in time",
}


def error_answer(status: int) -> str:
    """The whole HTTP response HAProxy sends for ``status`` (an errorfile)."""
    body = json.dumps({"status": "unavailable", "detail": ERRORS[status]})
    reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}[status]
    return (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/json\r\n"
        "Cache-Control: no-store\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
        f"{body}"
    )


def binary() -> str | None:
    found = shutil.which("haproxy")
    return found or next((path for path in SYSTEM_PATHS if os.access(path, os.X_OK)), None)


def missing() -> str | None:
    """What to install, in one line, when there is no HAProxy; ``None`` when there is."""
    return None if binary() else f"HAProxy is not installed: {INSTALL}"


def configuration(frontends: dict[int, list[int]]) -> str:
    """haproxy.cfg: for each port of ``frontends``, a front in front of an app instance on
    each of its backends' ports."""
    lines = [
        "# Written by bench/balancer.py whenever the instances change; edit it there.",
        "global",
        f"    pidfile {DIR / 'haproxy.pid'}",
        f"    stats socket {DIR / 'haproxy.sock'} mode 600 level admin",
        "    maxconn 4096",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        # As long as the slowest request of the workload may take at 1M customers.
        "    timeout client 120s",
        "    timeout server 120s",
        "    timeout queue 10s",
        # A refused connection never reached an instance (one stopping, or killed):
        # sending it to another is safe, even for a write.
        "    retries 2",
        "    option redispatch 1",
        "    retry-on conn-failure",
        # HAProxy's own answers, when no instance is up or one does not answer in time,
        # are JSON with a detail, as the app's are: a client parses every error alike.
        *(f"    errorfile {status} {DIR / f'{status}.http'}" for status in ERRORS),
    ]
    for port, backends in sorted(frontends.items()):
        lines += [
            "",
            f"frontend api{port}",
            f"    bind {net.HOST}:{port}",
            f"    default_backend app{port}",
            "",
            f"backend app{port}",
            # The instance with the fewest requests in flight: a slow request on one does
            # not queue the next behind it while another is idle.
            "    balance leastconn",
            "    option httpchk",
            f"    http-check send meth GET uri {net.HEALTH_PATH} ver HTTP/1.1 hdr Host localhost",
            "    http-check expect status 200",
            f"    default-server inter {CHECK_EVERY_MS} fall {FALL} rise {RISE}",
            *(
                f"    server app{n} {net.HOST}:{backend} check"
                for n, backend in enumerate(backends, 1)
            ),
        ]
    return "\n".join([*lines, ""])


def front_of(base_url: str) -> int:
    """The port of the front at ``base_url``, which names it in HAProxy's stats."""
    return int(base_url.rsplit(":", 1)[1])


def pid() -> int | None:
    try:
        found = int((DIR / "haproxy.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return found if services.pid_alive(found) else None


def ensure(backends: list[int], port: int | None = None) -> str:
    """HAProxy's address on ``port`` (a free one by default) in front of the instances on
    ``backends``; the other fronts it serves stay as they are, so that two sets of
    instances (make serve beside a test run) each keep their own address."""
    if problem := missing():
        raise services.ServiceError(problem)
    port = port or net.free_port(PORT)
    with services.state() as state:
        fronts = _live(state.get("balancer", {}).get("fronts", {}))
        fronts[str(port)] = backends
        _apply(state, fronts)
    return f"http://{net.HOST}:{port}"


def release(port: int) -> None:
    """Stop serving the front on ``port``; HAProxy stops once it serves none."""
    with services.state() as state:
        fronts = _live(state.get("balancer", {}).get("fronts", {}))
        fronts.pop(str(port), None)
        if fronts:
            _apply(state, fronts)
        else:
            services.terminate(pid(), "HAProxy")
            state.pop("balancer", None)


def _live(fronts: dict[str, list[int]]) -> dict[str, list[int]]:
    """The fronts whose instances still listen: a set of instances killed with no chance
    to release its front leaves it behind."""
    return {
        port: backends
        for port, backends in fronts.items()
        if any(not net.port_free(backend) for backend in backends)
    }


def _apply(state: dict, fronts: dict[str, list[int]]) -> None:
    running = pid()
    config = configuration({int(port): backends for port, backends in fronts.items()})
    DIR.mkdir(parents=True, exist_ok=True)
    for status in ERRORS:
        (DIR / f"{status}.http").write_text(error_answer(status))
    written = DIR / "haproxy.cfg"
    urls = ", ".join(f"http://{net.HOST}:{port}" for port in sorted(fronts))
    state["balancer"] = {"fronts": fronts, "url": urls}
    if running and written.exists() and written.read_text() == config:
        return
    written.write_text(config)
    checked = subprocess.run([binary(), "-c", "-q", "-f", str(written)], capture_output=True)
    if checked.returncode != 0:
        raise services.ServiceError(f"HAProxy refused {written}:\n{checked.stderr.decode()}")
    verb = "reloading" if running else "starting"
    print(f"[services] {verb} HAProxy on {urls}", flush=True)
    # -D: a daemon writing its pid file; -sf: the new process takes the ports and tells
    # the old one to finish what it holds and exit.
    command = [binary(), "-D", "-f", str(written), *(["-sf", str(running)] if running else [])]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise services.ServiceError(f"HAProxy did not start:\n{done.stderr}")
    net.wait_until(
        lambda: pid() not in (None, running),
        10,
        f"HAProxy did not start on {urls}",
        error=services.ServiceError,
    )


def stop() -> bool:
    """Stop HAProxy and forget its fronts; whether it was running."""
    with services.state() as state:
        state.pop("balancer", None)
        return services.terminate(pid(), "HAProxy")


def status() -> str:
    return services.optional_status("balancer", bool(binary()), INSTALL, bool(pid()))


def _ask(command: str) -> str:
    """What HAProxy's stats socket answers to ``command``."""
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2)
        sock.connect(str(DIR / "haproxy.sock"))
        sock.sendall(f"{command}\n".encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    return raw.decode()


def servers_up(port: int) -> dict[str, bool]:
    """Which instances behind the front on ``port`` HAProxy sends requests to now, by
    name (app1, app2, …)."""
    found = {}
    for line in _ask(f"show servers state app{port}").splitlines():
        fields = line.split()
        # be_id be_name srv_id srv_name srv_addr srv_op_state …; 2 is running.
        if len(fields) > 5 and fields[1] == f"app{port}" and fields[0].isdigit():
            found[fields[3]] = fields[5] == "2"
    return found


def _stats(port: int) -> dict[str, dict[str, str]]:
    """HAProxy's counters (``show stat``) of each instance behind the front on ``port``,
    by name (app1, app2, …)."""
    rows = _ask("show stat").splitlines()
    header = rows[0].lstrip("# ").split(",")
    found = {}
    for row in rows[1:]:
        fields = dict(zip(header, row.split(","), strict=False))
        if fields.get("pxname") == f"app{port}" and fields.get("svname", "").startswith("app"):
            found[fields["svname"]] = fields
    return found


def served(port: int) -> dict[str, int]:
    """Requests each instance behind the front on ``port`` has been sent, by name."""
    return {server: int(fields["stot"]) for server, fields in _stats(port).items()}


def set_state(port: int, server: str, state: str) -> None:
    """Put an instance behind the front on ``port`` in ``state``: ``drain`` sends it no
    new request while those it holds finish, ``ready`` takes it back once its health
    checks pass."""
    answer = _ask(f"set server app{port}/{server} state {state}").strip()
    if answer:
        raise services.ServiceError(f"HAProxy refused to set {server} {state}: {answer}")


def in_flight(port: int, server: str) -> int:
    """Requests HAProxy has sent the instance and not yet had answered."""
    found = _stats(port).get(server)
    if found is None:
        raise services.ServiceError(f"HAProxy has no instance {server} behind port {port}")
    return int(found["scur"] or 0)
