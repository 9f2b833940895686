"""Moving a workspace's folder between hosts: time per GB through the agents vs a local tar pipe.

Two real agents (gunicorn, this checkout) with their own workspace roots. For each size (default
256 MiB and 1 GiB of incompressible files) a folder is made on the first agent's disk, then:
- platform: the signed `GET /api/folders/<name>/archive` streamed through the platform's client
  into `PUT /api/folders/<name>/archive` on the second agent (which checks the digest and unpacks),
  exactly what the move saga's copy step does;
- baseline: `tar -C a -cf - name` piped into `tar -C b -xf -` on the same disk, same run.
Prints seconds (and of them, until the source's archive was ready), seconds per GB and the ratio
to the baseline. Removes everything it made.

    python bench/bench_move.py [--sizes 256,1024] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from servers.clients.agent import AgentClient, AgentTarget  # noqa: E402
from tests.agent_process import start_agent  # noqa: E402

MIB = 1024 * 1024


def make_folder(path: Path, mib: int) -> None:
    """`mib` MiB of random bytes in 16 MiB files (incompressible, like notebooks' data)."""
    path.mkdir(parents=True)
    left, index = mib, 0
    while left > 0:
        size = min(16, left)
        (path / f"data-{index:04}.bin").write_bytes(os.urandom(size * MIB))
        left, index = left - size, index + 1


def via_agents(source: AgentClient, target: AgentClient, name: str) -> tuple[float, float]:
    """Seconds in all, and of those until the source's archive was ready (its answer's headers:
    it tars the folder to a file, hashing it, before it answers)."""
    started = time.perf_counter()
    with source.folder_archive(name) as archive:
        ready = time.perf_counter() - started
        target.folder_unpack(name, archive)
    return time.perf_counter() - started, ready


def via_tar(a: Path, b: Path, name: str) -> float:
    started = time.perf_counter()
    # Two processes joined by a pipe, no shell: the paths never become shell text.
    reader = subprocess.Popen(["tar", "-C", str(a), "-cf", "-", name], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-C", str(b), "-xf", "-"], stdin=reader.stdout, check=True)
    reader.stdout.close()
    if reader.wait() != 0:
        raise RuntimeError(f"tar of {a / name} failed")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,1024", help="folder sizes in MiB")
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-move-", dir="/var/tmp"))
    agents = []
    try:
        roots = {side: work / side for side in ("a", "b", "tar-a", "tar-b")}
        for path in roots.values():
            path.mkdir()
        agents = [start_agent(workspace_root=roots[side], log_dir=work) for side in ("a", "b")]
        source, target = (
            AgentClient(AgentTarget(name=side, base_url=agent.url, secret=agent.secret), read_timeout=600)
            for side, agent in zip(("a", "b"), agents, strict=True)
        )
        print(f"{'size':>8} {'agents s':>9} {'of it tar':>10} {'tar s':>7} {'agents s/GB':>12} "
              f"{'tar s/GB':>9} {'ratio':>6}")  # fmt: skip
        for mib in (int(x) for x in options.sizes.split(",")):
            name = f"move-{mib}"
            make_folder(roots["a"] / name, mib)
            make_folder(roots["tar-a"] / name, mib)
            agent_times, ready_times, tar_times = [], [], []
            for _ in range(options.rounds):
                took, ready = via_agents(source, target, name)
                agent_times.append(took)
                ready_times.append(ready)
                shutil.rmtree(roots["b"] / name)
                tar_times.append(via_tar(roots["tar-a"], roots["tar-b"], name))
                shutil.rmtree(roots["tar-b"] / name)
            agent_s, tar_s = statistics.median(agent_times), statistics.median(tar_times)
            gb = mib / 1024
            ready_s = statistics.median(ready_times)
            print(f"{mib:>6}Mi {agent_s:>9.2f} {ready_s:>10.2f} {tar_s:>7.2f} {agent_s / gb:>12.2f} "
                  f"{tar_s / gb:>9.2f} {agent_s / tar_s:>5.2f}x")  # fmt: skip
            shutil.rmtree(roots["a"] / name)
            shutil.rmtree(roots["tar-a"] / name)
    finally:
        for agent in agents:
            agent.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
