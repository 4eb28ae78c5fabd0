"""Where a scenario's CPU went: the kernel's accounting of real process trees."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench import cpu

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

# Burns this much CPU, says so, then waits for its stdin to close.
BURN_S = 0.3
BURNER = textwrap.dedent(
    f"""
    import sys, time
    end = time.process_time() + {BURN_S}
    while time.process_time() < end:
        pass
    print("burnt", flush=True)
    sys.stdin.read()
    """
)


def tree(child_exits: bool) -> subprocess.Popen:
    """A process whose child burns CPU, then exits and is reaped, or stays alive."""
    parent = textwrap.dedent(
        f"""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", {BURNER!r}],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        print(child.stdout.readline().strip(), flush=True)
        if {child_exits}:
            child.stdin.close()
            child.wait()
            print("reaped", flush=True)
        sys.stdin.read()
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", parent], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize("child_exits", [False, True], ids=["running child", "reaped child"])
def test_a_tree_counts_its_childrens_cpu_whether_they_run_or_were_reaped(child_exits):
    root = tree(child_exits)
    try:
        assert root.stdout.readline().strip() == "burnt"
        if child_exits:
            assert root.stdout.readline().strip() == "reaped"
        own = cpu._stat(root.pid)[1] - (BURN_S if child_exits else 0)
        # A clock tick of slack: the kernel counts CPU in ticks.
        assert cpu.tree_seconds(root.pid) >= BURN_S - 1 / cpu.TICKS
        assert own < BURN_S / 2
    finally:
        root.stdin.close()
        root.wait()


def test_a_process_that_is_gone_has_no_figure():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert cpu.tree_seconds(gone.pid) is None


def test_k6s_time_is_the_reaped_childrens_time():
    before = cpu.children_seconds()
    subprocess.run([sys.executable, "-c", BURNER], input="", text=True, capture_output=True)
    assert cpu.children_seconds() - before >= BURN_S - 1 / cpu.TICKS


def test_a_reading_becomes_milliseconds_per_request_and_unknown_parts_stay_unknown():
    before = {"app": 10.0, "postgresql": 2.0, "redis": None, "k6": 1.0}
    after = {"app": 12.0, "postgresql": 2.5, "redis": None, "k6": 1.4}
    assert cpu.per_request(before, after, 500) == {
        "app": 4.0,
        "postgresql": 1.0,
        "replica": None,
        "redis": None,
        "proxies": None,
        "k6": 0.8,
    }
    assert cpu.per_request(before, after, 0) == dict.fromkeys(cpu.PARTS)


def test_a_meter_reads_only_the_trees_it_was_given():
    assert cpu.Meter({"app": lambda: None}).read()["app"] is None
    reading = cpu.Meter({"app": os.getpid}).read()
    assert reading["app"] > 0
    assert reading["postgresql"] is reading["redis"] is reading["proxies"] is None
    assert reading["k6"] >= 0


def test_a_tree_that_shrank_has_no_figure_rather_than_a_free_one():
    assert cpu.per_request({"app": 5.0}, {"app": 1.0}, 100)["app"] is None
