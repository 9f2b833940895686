"""Create→HTTP-ready latency of workspace containers: through the agent vs plain `docker run`.

For each N (default 1, 5, 10) both ways start N containers of the same image
concurrently and wait until every one answers HTTP on its published 8080 port:
- agent: signed `POST /api/containers` to a real agent (gunicorn, this checkout),
  host port read from the answer;
- baseline: `docker run -d -p 127.0.0.1::8080` with the CLI, host port from `docker port`.
Prints per-container latency (median, max), wall time of the batch, and the
agent/baseline ratio of the medians and of the wall times. Everything it
creates carries a unique name and is removed at the end.

    python bench/bench_agent_create.py [--counts 1,5,10] [--rounds 2] [--image mgmt-test/workspace:latest]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.agent_process import AgentProcess, start_agent  # noqa: E402

IMAGE = "mgmt-test/workspace:latest"


def wait_http(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # The app answers: a page or its own redirect (as the platform's readiness check counts).
            answer = requests.get(f"http://127.0.0.1:{port}/", timeout=1, allow_redirects=False)
            if answer.status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"nothing answered on port {port}")


def via_agent(agent: AgentProcess, name: str, image: str) -> float:
    started = time.perf_counter()
    answer = agent.post("/api/containers", json={"name": name, "image": image, "ports": [8080]})
    answer.raise_for_status()
    wait_http(answer.json()["data"]["ports"]["8080/tcp"]["host_port"])
    return time.perf_counter() - started


def via_docker_run(
    name: str,
    image: str,
    ports: tuple[int, ...] = (8080,),
    options: tuple[str, ...] = (),
    timeout: float = 300,
) -> float:
    """`docker run` of the image (with `options`) until every app `port` answers HTTP: the floor."""
    started = time.perf_counter()
    publish = [arg for port in ports for arg in ("-p", f"127.0.0.1::{port}")]
    subprocess.run(
        ["docker", "run", "-d", "--name", name, *publish, *options, image], check=True, capture_output=True
    )
    for port in ports:
        host_port = subprocess.run(
            ["docker", "port", name, f"{port}/tcp"], check=True, capture_output=True, text=True
        ).stdout.split(":")[-1]
        wait_http(int(host_port), timeout=timeout)
    return time.perf_counter() - started


def batch(count: int, one) -> tuple[list[float], float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=count) as pool:
        latencies = list(pool.map(one, range(count)))
    return latencies, time.perf_counter() - started


def remove(names: list[str]) -> None:
    if names:
        subprocess.run(["docker", "rm", "-f", "-v", *names], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,5,10")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--image", default=IMAGE)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    subprocess.run([str(ROOT / "scripts/build-test-images.sh")], check=True)

    run_id = uuid.uuid4().hex[:6]
    agent = start_agent(workspace_root=Path(tempfile.mkdtemp(prefix="bench-ws-")), label_prefix=f"b{run_id}")
    results = []
    try:
        for count in counts:
            agent_lat, docker_lat, agent_wall, docker_wall = [], [], [], []
            for round_no in range(args.rounds):
                tag = f"{run_id}-{count}-{round_no}"
                # Alternate which goes first so neither always runs on a warmer engine.
                order = ("agent", "docker") if round_no % 2 == 0 else ("docker", "agent")
                for kind in order:
                    if kind == "agent":
                        names = [f"ag-{tag}-{i}" for i in range(count)]
                        lat, wall = batch(
                            count, lambda i, names=names: via_agent(agent, names[i], args.image)
                        )
                        agent_lat += lat
                        agent_wall.append(wall)
                        agent.remove_containers()
                    else:
                        names = [f"bench-dr-{tag}-{i}" for i in range(count)]
                        try:
                            lat, wall = batch(
                                count, lambda i, names=names: via_docker_run(names[i], args.image)
                            )
                        finally:
                            remove(names)
                        docker_lat += lat
                        docker_wall.append(wall)
            row = {
                "n": count,
                "agent_median_s": statistics.median(agent_lat),
                "agent_max_s": max(agent_lat),
                "agent_wall_s": statistics.median(agent_wall),
                "docker_median_s": statistics.median(docker_lat),
                "docker_max_s": max(docker_lat),
                "docker_wall_s": statistics.median(docker_wall),
            }
            row["ratio_median"] = row["agent_median_s"] / row["docker_median_s"]
            row["ratio_wall"] = row["agent_wall_s"] / row["docker_wall_s"]
            results.append(row)
    finally:
        agent.stop()

    print(f"create→HTTP-ready, image {args.image}, {args.rounds} round(s) per N, started concurrently")
    header = ("  N", "  agent med/max", "docker run med/max", " wall agent/docker", "ratio med", "ratio wall")
    print(" | ".join(header))
    for r in results:
        print(
            f"{r['n']:>3} | {r['agent_median_s']:6.3f}/{r['agent_max_s']:6.3f}s | "
            f"{r['docker_median_s']:8.3f}/{r['docker_max_s']:6.3f}s | "
            f"{r['agent_wall_s']:7.3f}/{r['docker_wall_s']:7.3f}s  | "
            f"{r['ratio_median']:9.2f} | {r['ratio_wall']:10.2f}"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "agent_create.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
