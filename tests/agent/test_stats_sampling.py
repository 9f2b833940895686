"""The agent's stats never sleep per request: CPU use since the previous figure, Docker's facts
reused for a while (the bench: bench/bench_stats_fanout.py)."""

from __future__ import annotations

import time
from collections import namedtuple

import pytest

from agent.hostagent import system

Times = namedtuple("Times", "user nice system idle iowait irq softirq steal guest guest_nice")


def test_busy_percent_counts_idle_and_iowait_as_idle_and_guest_once():
    before = Times(10, 0, 5, 80, 5, 0, 0, 0, 2, 0)
    after = Times(40, 0, 15, 120, 15, 0, 0, 0, 12, 0)  # +30 user (10 of it guest), +10 sys, +50 idle
    assert system._busy_percent(before, after) == pytest.approx(40 / 90 * 100, abs=0.1)
    assert system._busy_percent(before, before) == 0.0


def test_cpu_percent_does_not_sleep_and_reuses_a_recent_figure(monkeypatch):
    monkeypatch.setattr(system, "_cpu_since", (time.monotonic() - 5, system.psutil.cpu_times()))
    monkeypatch.setattr(system, "_cpu_last", None)
    started = time.monotonic()
    first = system.cpu_percent()  # over the last 5 s
    again = system.cpu_percent()  # within CPU_MIN_WINDOW: the same figure
    assert time.monotonic() - started < 0.05
    assert 0.0 <= first <= 100.0 and again == first


def test_the_first_figure_after_start_waits_for_a_short_window(monkeypatch):
    monkeypatch.setattr(system, "_cpu_since", (time.monotonic(), system.psutil.cpu_times()))
    monkeypatch.setattr(system, "_cpu_last", None)
    started = time.monotonic()
    assert 0.0 <= system.cpu_percent() <= 100.0
    assert time.monotonic() - started >= system._CPU_FIRST_WINDOW * 0.9


def test_docker_facts_are_read_once_per_period(monkeypatch):
    monkeypatch.setattr(system, "_docker_facts", None)
    calls = []

    def info():
        calls.append(1)
        return {"ServerVersion": "27.0", "DockerRootDir": "/var/lib/docker", "Containers": 3}

    assert system.docker_facts(info) == {"ServerVersion": "27.0", "DockerRootDir": "/var/lib/docker"}
    system.docker_facts(info)
    assert len(calls) == 1
    monkeypatch.setattr(system, "DOCKER_FACTS_SECONDS", 0.0)
    system.docker_facts(info)
    assert len(calls) == 2
