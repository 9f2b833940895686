"""Host figures: CPU, memory, disks, GPUs (through nvidia-smi when present)."""

from __future__ import annotations

import csv
import logging
import os
import shutil
import subprocess
from typing import Any

import psutil

log = logging.getLogger("hostagent.system")

NVIDIA_SMI_FIELDS = ("index", "uuid", "name", "memory.total", "memory.used", "utilization.gpu")


def host_cpus() -> int:
    return os.cpu_count() or 1


def host_memory() -> int:
    return int(psutil.virtual_memory().total)


def cpu_figures() -> dict[str, Any]:
    return {
        "count": host_cpus(),
        "percent": psutil.cpu_percent(interval=0.1),
        "load": [round(value, 2) for value in os.getloadavg()],
    }


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
