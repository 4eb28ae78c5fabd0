"""HAProxy as the harness runs it: one address in front of several instances, an
instance that stops answering its health check taken out of the rotation, another set
of instances taken over by a reload on the same address."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from bench import balancer, net, services
from tests.conftest import need_installed


@pytest.fixture(scope="module")
def haproxy() -> None:
    need_installed("haproxy")


class Instance:
    """A stand-in app instance: a static file server whose health page says its name."""

    def __init__(self, root, name: str):
        health = root / name / net.HEALTH_PATH.strip("/")
        health.mkdir(parents=True)
        (health / "index.html").write_text(name)
        self.name = name
        self.port = net.free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(self.port), "--bind", net.HOST],
            cwd=root / name,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        net.wait_until(lambda: net.health_status(f"http://{net.HOST}:{self.port}") == 200, 10, name)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def instances(haproxy, tmp_path) -> Iterator[list[Instance]]:
    started = [Instance(tmp_path, f"instance-{n}") for n in (1, 2)]
    yield started
    for instance in started:
        instance.kill()


def answered_by(url: str, times: int = 20) -> set[str]:
    found = set()
    for _ in range(times):
        response = httpx.get(url + net.HEALTH_PATH, timeout=5)
        assert response.status_code == 200
        found.add(response.text)
    return found


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def all_up(url: str) -> None:
    net.wait_until(lambda: all(balancer.servers_up(port_of(url)).values()), 10, "instances not up")


def test_the_configuration_checks_every_instance_and_retries_a_refused_connection():
    config = balancer.configuration({9000: [9001, 9002]}).splitlines()
    assert f"    bind {net.HOST}:9000" in config
    assert f"    server app1 {net.HOST}:9001 check" in config
    assert f"    server app2 {net.HOST}:9002 check" in config
    assert "    retry-on conn-failure" in config
    checks = [line.strip() for line in config if line.strip().startswith("http-check send")]
    health = f"meth GET uri {net.HEALTH_PATH} ver HTTP/1.1 hdr Host localhost"
    assert checks == [f"http-check send {health}"]


def test_a_missing_binary_says_what_to_install(monkeypatch):
    monkeypatch.setattr(balancer, "binary", lambda: None)
    with pytest.raises(services.ServiceError, match="apt-get install haproxy"):
        balancer.ensure([9001])
    assert "apt-get install haproxy" in balancer.status()


def test_requests_reach_every_instance_through_one_address(instances):
    url = balancer.ensure([instance.port for instance in instances])
    all_up(url)
    assert answered_by(url) == {"instance-1", "instance-2"}
    assert balancer.status() == f"running on {url}"
    balancer.release(port_of(url))


def test_an_instance_that_dies_leaves_the_rotation(instances):
    url = balancer.ensure([instance.port for instance in instances])
    all_up(url)
    instances[0].kill()
    net.wait_until(
        lambda: balancer.servers_up(port_of(url)) == {"app1": False, "app2": True},
        10 * balancer.FALL * balancer.CHECK_EVERY_MS / 1000,
        "HAProxy still sends requests to the dead instance",
    )
    assert answered_by(url) == {"instance-2"}
    balancer.release(port_of(url))


def test_with_no_instance_up_it_answers_503_in_json_with_a_detail(instances):
    url = balancer.ensure([instance.port for instance in instances])
    all_up(url)
    for instance in instances:
        instance.kill()
    net.wait_until(
        lambda: not any(balancer.servers_up(port_of(url)).values()),
        10 * balancer.FALL * balancer.CHECK_EVERY_MS / 1000,
        "HAProxy still sends requests to dead instances",
    )
    response = httpx.get(url + net.HEALTH_PATH, timeout=5)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"] == balancer.ERRORS[503]
    assert response.json()["status"] != "ok"
    balancer.release(port_of(url))


def test_a_reload_serves_other_instances_on_the_same_address(instances):
    url = balancer.ensure([instances[0].port])
    before = balancer.pid()
    assert balancer.ensure([instances[1].port], port_of(url)) == url
    assert balancer.pid() != before
    net.wait_until(
        lambda: balancer.servers_up(port_of(url)) == {"app1": True}, 10, "instance not up"
    )
    assert answered_by(url) == {"instance-2"}
    balancer.release(port_of(url))


def test_two_sets_of_instances_each_keep_their_own_address(instances):
    first = balancer.ensure([instances[0].port])
    second = balancer.ensure([instances[1].port])
    assert first != second
    all_up(first)
    all_up(second)
    assert answered_by(first) == {"instance-1"}
    assert answered_by(second) == {"instance-2"}
    balancer.release(port_of(first))
    assert balancer.pid() is not None
    assert answered_by(second) == {"instance-2"}
    balancer.release(port_of(second))
    assert balancer.pid() is None
    assert balancer.status() == "stopped"


def test_ensure_keeps_a_balancer_that_serves_the_same_instances(instances):
    url = balancer.ensure([instance.port for instance in instances])
    running = balancer.pid()
    assert balancer.ensure([instance.port for instance in instances], port_of(url)) == url
    assert balancer.pid() == running
    balancer.release(port_of(url))


def test_a_front_whose_instances_died_is_dropped(instances):
    url = balancer.ensure([instances[0].port])
    instances[0].kill()
    other = balancer.ensure([instances[1].port])
    assert f"bind {net.HOST}:{port_of(url)}" not in (balancer.DIR / "haproxy.cfg").read_text()
    balancer.release(port_of(other))


def test_stopped_it_is_stopped(instances):
    balancer.ensure([instances[0].port])
    assert balancer.stop() is True
    assert balancer.pid() is None
    assert balancer.status() == "stopped"
    assert balancer.stop() is False
