"""Host figures: CPU, memory, disks, GPUs (through nvidia-smi when present)."""

from __future__ import annotations

import csv
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

log = logging.getLogger("hostagent.system")

# A stats request never sleeps to sample the CPU: the figure is the CPU use since the previous
# one (a poll every minute gets that minute's average), measured over at least CPU_MIN_WINDOW
# seconds; requests closer together than that get the last figure again.
CPU_MIN_WINDOW = 1.0
_CPU_FIRST_WINDOW = 0.1  # only the first figure after start, when there is no earlier one
_cpu_lock = threading.Lock()
_cpu_since: tuple[float, Any] = (time.monotonic(), psutil.cpu_times())
_cpu_last: float | None = None

# Docker's version and data root come from `docker info`, which costs the Engine several
# milliseconds of CPU; they change only when it restarts, so they are read again after this long.
DOCKER_FACTS_SECONDS = 60.0
_docker_lock = threading.Lock()
_docker_facts: tuple[float, dict[str, Any]] | None = None

NVIDIA_SMI_FIELDS = ("index", "uuid", "name", "memory.total", "memory.used", "utilization.gpu")


def host_cpus() -> int:
    return os.cpu_count() or 1


def host_memory() -> int:
    return int(psutil.virtual_memory().total)


def cpu_figures() -> dict[str, Any]:
    return {
        "count": host_cpus(),
        "percent": cpu_percent(),
        "load": [round(value, 2) for value in os.getloadavg()],
    }


def cpu_percent() -> float:
    """The host's CPU use in percent since the previous figure (see CPU_MIN_WINDOW)."""
    global _cpu_since, _cpu_last
    with _cpu_lock:
        started, before = _cpu_since
        waited = time.monotonic() - started
        if _cpu_last is not None and waited < CPU_MIN_WINDOW:
            return _cpu_last
        if _cpu_last is None and waited < _CPU_FIRST_WINDOW:
            time.sleep(_CPU_FIRST_WINDOW - waited)  # once, right after the agent started
        now = psutil.cpu_times()
        _cpu_since, _cpu_last = (time.monotonic(), now), _busy_percent(before, now)
        return _cpu_last


def _busy_percent(before: Any, after: Any) -> float:
    """What psutil.cpu_percent computes: busy time over all time, idle and iowait being idle
    (on Linux guest time is already counted in user and nice)."""
    deltas = {field: max(getattr(after, field) - getattr(before, field), 0.0) for field in after._fields}
    total = sum(deltas.values()) - deltas.get("guest", 0.0) - deltas.get("guest_nice", 0.0)
    busy = total - deltas.get("idle", 0.0) - deltas.get("iowait", 0.0)
    return round(min(max(busy / total * 100, 0.0), 100.0), 1) if total > 0 else 0.0


def docker_facts(read_info: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`{"ServerVersion", "DockerRootDir"}` from `read_info()` (Docker's info), reused for
    DOCKER_FACTS_SECONDS."""
    global _docker_facts
    with _docker_lock:
        if _docker_facts is not None and time.monotonic() - _docker_facts[0] < DOCKER_FACTS_SECONDS:
            return _docker_facts[1]
    info = read_info()
    facts = {key: info.get(key) for key in ("ServerVersion", "DockerRootDir")}
    with _docker_lock:
        _docker_facts = (time.monotonic(), facts)
    return facts


def memory_figures() -> dict[str, int]:
    memory = psutil.virtual_memory()
    return {"total": int(memory.total), "used": int(memory.total - memory.available)}


def disk_figures(path: str | None) -> dict[str, int] | None:
    """Total/used of the file system holding `path`; None when the path is not on this machine."""
    if not path or not os.path.exists(path):
        return None
    usage = shutil.disk_usage(path)
    return {"total": usage.total, "used": usage.used}


def gpus() -> list[dict[str, Any]]:
    """The host's NVIDIA GPUs as nvidia-smi reports them; an empty list without nvidia-smi."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return []
    try:
        result = subprocess.run(  # noqa: S603 (fixed arguments, binary found on PATH)
            [binary, f"--query-gpu={','.join(NVIDIA_SMI_FIELDS)}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("nvidia-smi failed: %s", exc)
        return []
    return parse_nvidia_smi(result.stdout)


def parse_nvidia_smi(output: str) -> list[dict[str, Any]]:
    found = []
    for row in csv.reader(line for line in output.splitlines() if line.strip()):
        if len(row) != len(NVIDIA_SMI_FIELDS):
            continue
        index, uuid, name, total, used, utilization = (value.strip() for value in row)
        found.append(
            {
                "index": _number(index),
                "uuid": uuid,
                "name": name,
                "memory": {"total": _mib(total), "used": _mib(used)},
                "utilization": _number(utilization),
            }
        )
    return found


def _number(value: str) -> int | None:
    try:
        return int(float(value))
    except ValueError:  # "[N/A]"
        return None


def _mib(value: str) -> int | None:
    number = _number(value)
    return None if number is None else number * 1024 * 1024
