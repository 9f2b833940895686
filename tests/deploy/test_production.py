"""Production mode, started exactly as deploy/ says: the systemd units' ExecStart lines, their
EnvironmentFile filled in from deploy/*.env.example, nginx from `render_nginx_config` with TLS.

gunicorn, a Celery worker per queue, beat and the agent run on MariaDB and Redis with
DJANGO_ENV=production; then, only through HTTPS: sign up → approve → the owner opens the workspace
through nginx → stop → start → delete. Beat must fire a periodic job meanwhile, and
`manage.py check --deploy` must report nothing.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import secrets
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import MySQLdb
import pytest
import redis
import requests
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.agent_process import managed_container_names
from tests.net import free_port, wait_until
from tests.services import require_binary, require_docker

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTALL_DIR = "/opt/mgmt"  # where the units expect the checkout
REDIS_DB = 12
WORKSPACE_DOMAIN = "ws.localhost"  # a wildcard certificate needs two labels under the star

pytestmark = [pytest.mark.docker, pytest.mark.nginx, pytest.mark.slow]


@dataclass
class Unit:
    exec_start: list[str]
    working_directory: str
    environment_file: str


def unit(name: str, instance: str = "") -> Unit:
    """What systemd would run for deploy/systemd/<name>, pointed at this checkout."""
    keys: dict[str, str] = {}
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            keys[key.strip()] = value.strip().replace("%i", instance)
    here = lambda value: value.replace(INSTALL_DIR, str(ROOT))  # noqa: E731
    return Unit(
        exec_start=[here(part) for part in shlex.split(keys["ExecStart"])],
        working_directory=here(keys["WorkingDirectory"]),
        environment_file=keys["EnvironmentFile"],
    )


def env_template_filled(template: str, values: dict[str, str]) -> dict[str, str]:
    """Every variable of deploy/<template>, with this test's value: none missing, none added."""
    names = [
        line.split("=", 1)[0]
        for line in (DEPLOY / template).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    unknown = [name for name in names if name not in values]
    assert not unknown, f"{template} names settings this test cannot fill: {unknown}"
    return {name: values[name] for name in names}


def certificates(directory: Path) -> tuple[Path, Path, Path]:
    """(CA, certificate, key): a local CA's certificate for localhost and *.WORKSPACE_DOMAIN,
    the two names an operator's certificate (or a wildcard) covers."""
    now = datetime.datetime.now(datetime.UTC)

    def build(subject: str, issuer: x509.Name, public_key, signer, *, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.DNSName("localhost"), x509.DNSName(f"*.{WORKSPACE_DOMAIN}")]
            names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = build("test CA", ca_name, ca_key.public_key(), ca_key, ca=True)
    cert = build("localhost", ca_name, key.public_key(), ca_key, ca=False)
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    paths[2].chmod(0o600)
    return paths


@contextmanager
def localhost_resolves() -> Iterator[None]:
    """Resolve `*.localhost` to loopback, as browsers do (Python's resolver does not)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = real


@dataclass
class Production:
    url: str
    env: dict[str, str]
    cert: Path
    logs: Path
    db_name: str
    agent_port: int
    agent_secret: str
    admin_password: str
    label_prefix: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        """`deploy/bin/mgmt manage …` as an operator runs it: the env file, nothing else."""
        return subprocess.run(
            [str(DEPLOY / "bin" / "mgmt"), "manage", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def start(self, name: str, command: list[str], cwd: str, env: dict[str, str]) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (kept open for the process)
        self.processes[name] = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def logs_tail(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.logs.iterdir())
        )

    def session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # else REQUESTS_CA_BUNDLE would win over `verify`, and proxies apply
        session.verify = str(self.cert)
        return session


def _system_env() -> dict[str, str]:
    """The little systemd gives a service besides its EnvironmentFile."""
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    require_docker()
    require_binary("nginx", "nginx")
    base = tmp_path_factory.mktemp("production")
    for sub in ("logs", "workspaces", "template", "uploads", "static", "nginx", "tls"):
        (base / sub).mkdir()
    (base / "template" / "README.txt").write_text("hello from the template\n")
    ca, cert, key = certificates(base / "tls")
    edge_port, web_port, agent_port = free_port(), free_port(), free_port()
    db_name = f"prod_{secrets.token_hex(4)}"
    db = MySQLdb.connect(host="127.0.0.1", user="mgmt", password="mgmt")
    db.cursor().execute(f"CREATE DATABASE `{db_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    redis.Redis(db=REDIS_DB).flushdb()
    label_prefix = f"prod{secrets.token_hex(3)}"
    agent_secret = secrets.token_hex(32)
    platform_env = env_template_filled(
        "mgmt.env.example",
        {
            "DJANGO_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DATABASE_URL": f"mysql://mgmt:mgmt@127.0.0.1:3306/{db_name}",
            "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
            "PLATFORM_URL": f"https://localhost:{edge_port}",
            "WORKSPACE_DOMAIN": WORKSPACE_DOMAIN,
            "ALLOWED_HOSTS": "",
            "TRUSTED_PROXY_COUNT": "1",
            "WEB_BIND": f"127.0.0.1:{web_port}",
            "STATIC_ROOT": str(base / "static"),
            "UPLOAD_ROOT": str(base / "uploads"),
            "MGMT_SERVER_IP": "127.0.0.1",
            "AGENT_PORT": str(agent_port),
            "WORKSPACE_DEFAULT_IMAGE": "mgmt-test/workspace:latest",
        },
    )
    # Tunables an operator may add; here so that beat fires within the test and it stays small.
    platform_env |= {
        "SERVER_STATS_POLL_SECONDS": "3",
        "HEARTBEAT_SECONDS": "3",
        "WEB_WORKERS": "2",
        "CELERY_CONCURRENCY": "2",
    }
    agent_env = env_template_filled(
        "agent.env.example",
        {
            "AGENT_SECRET": agent_secret,
            "AGENT_BIND": "127.0.0.1",
            "AGENT_PORT": str(agent_port),
            "AGENT_PUBLISH_ADDRESS": "127.0.0.1",
            "AGENT_WORKSPACE_ROOT": str(base / "workspaces"),
            "AGENT_WORKSPACE_TEMPLATE": str(base / "template"),
        },
    )
    agent_env["AGENT_LABEL_PREFIX"] = label_prefix  # this test's containers only
    admin_password = secrets.token_urlsafe(16)
    env = _system_env() | platform_env
    stack = Production(
        url=f"https://localhost:{edge_port}",
        env=env,
        cert=ca,
        logs=base / "logs",
        db_name=db_name,
        agent_port=agent_port,
        agent_secret=agent_secret,
        admin_password=admin_password,
        label_prefix=label_prefix,
    )
    try:
        # docs/deploy.md, "Upgrades": migrations first, then static files, then the processes.
        for step in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
            done = stack.manage(*step)
            assert done.returncode == 0, done.stderr[-3000:]
        stack.env = env | {"ADMIN_PASSWORD": admin_password}
        assert stack.manage("ensure_admin").returncode == 0
        stack.env = env
        rendered = stack.manage(
            "render_nginx_config",
            "--standalone",
            str(base / "nginx"),
            "--listen",
            f"127.0.0.1:{edge_port}",
            "--backend",
            platform_env["WEB_BIND"],
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
        )
        assert rendered.returncode == 0, rendered.stderr
        stack.start("nginx", [str(DEPLOY / "bin" / "mgmt"), "nginx", str(base / "nginx")], str(ROOT), env)
        for name, instance in (
            ("mgmt-web.service", ""),
            ("mgmt-worker@.service", "provisioning"),
            ("mgmt-worker@.service", "builds"),
            ("mgmt-worker@.service", "default"),
            ("mgmt-beat.service", ""),
            ("mgmt-agent.service", ""),
        ):
            spec = unit(name, instance)
            unit_env = _system_env() | (agent_env if "agent" in name else platform_env)
            assert spec.environment_file in ("/etc/mgmt/mgmt.env", "/etc/mgmt/agent.env")
            stack.start(name.replace("@", f"@{instance}"), spec.exec_start, spec.working_directory, unit_env)
        up = wait_until(lambda: _answers(stack, "/api/health"), timeout=60, interval=0.5)
        assert up, stack.logs_tail()
        yield stack
    finally:
        for process in stack.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, 15)
        for process in stack.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
        for name in managed_container_names(label_prefix):
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        db.cursor().execute(f"DROP DATABASE IF EXISTS `{db_name}`")
        db.close()
        redis.Redis(db=REDIS_DB).flushdb()


def _answers(stack: Production, path: str) -> bool:
    try:
        return stack.session().get(f"{stack.url}{path}", timeout=3).status_code == 200
    except requests.RequestException:
        return False


def _api(session: requests.Session, method: str, url: str, **kwargs) -> dict:
    answer = session.request(method, url, timeout=30, **kwargs)
    assert answer.status_code < 300, (method, url, answer.status_code, answer.text[:500])
    return answer.json()["data"]


def _workspace_status(admin: requests.Session, stack: Production, workspace_id: int) -> str:
    return _api(admin, "GET", f"{stack.url}/api/workspaces/{workspace_id}")["status"]


def test_check_deploy_reports_nothing(production: Production) -> None:
    checked = production.manage("check", "--deploy", "--fail-level", "WARNING")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "System check identified no issues (0 silenced)." in checked.stdout or re.search(
        r"System check identified no issues \(\d+ silenced\)\.", checked.stdout
    ), checked.stdout


def test_sign_up_to_delete_through_https_with_beat_running(production: Production) -> None:
    stack = production
    with localhost_resolves():
        admin = stack.session()
        token = _api(
            admin,
            "POST",
            f"{stack.url}/api/auth/login",
            json={"email": "admin@example.com", "password": stack.admin_password},
        )["token"]
        admin.headers["Authorization"] = f"Bearer {token}"
        server = _api(
            admin,
            "POST",
            f"{stack.url}/api/servers",
            json={
                "name": "docker-1",
                "address": "127.0.0.1",
                "agent_port": stack.agent_port,
                "agent_secret": stack.agent_secret,
            },
        )
        # Beat's stats poll (every 3 s here) finds the new host's agent and brings it online.
        server_url = f"{stack.url}/api/servers/{server['id']}"
        online = wait_until(
            lambda: _api(admin, "GET", server_url)["status"] == "online", timeout=60, interval=0.5
        )
        assert online, (_api(admin, "GET", server_url), stack.logs_tail())

        person = stack.session()
        signed_up = person.post(
            f"{stack.url}/api/auth/register",
            json={"username": "carol", "email": "carol@example.org", "password": "a long Passphrase 42"},
            timeout=30,
        )
        assert signed_up.status_code in (200, 201), signed_up.text
        users = _api(admin, "GET", f"{stack.url}/api/admin/users")["results"]
        carol = next(u for u in users if u["username"] == "carol")
        approved = _api(admin, "POST", f"{stack.url}/api/admin/users/{carol['id']}/approve", json={})
        workspace_id = approved["id"]
        # The provisioning worker's progress, live over HTTPS through nginx until it is done; a
        # stream closes after EVENTS_STREAM_SECONDS, so reconnect after the last id, as browsers do.
        events: list[str] = []
        last_id = "0"
        deadline = time.monotonic() + 120
        while (not events or events[-1] not in ("done", "failed")) and time.monotonic() < deadline:
            url = f"{stack.url}/events/workspace/{workspace_id}"
            with admin.get(url, headers={"Last-Event-ID": last_id}, stream=True, timeout=60) as live:
                assert live.status_code == 200, live.status_code
                for line in live.iter_lines(decode_unicode=True):
                    if line.startswith("event: "):
                        events.append(line[7:])
                    elif line.startswith("id: "):
                        last_id = line[4:]
        assert events[-1] == "done" and events.count("step") == 5, events
        # Provisioning runs on the real provisioning worker: wait for it to report the workspace active.
        active = wait_until(
            lambda: _workspace_status(admin, stack, workspace_id) == "active", timeout=120, interval=0.5
        )
        assert active, (_api(admin, "GET", f"{stack.url}/api/workspaces/{workspace_id}"), stack.logs_tail())

        # The owner logs in and opens VS Code on its own origin: the handshake, then the app.
        _api(
            person,
            "POST",
            f"{stack.url}/api/auth/login",
            json={"email": "carol@example.org", "password": "a long Passphrase 42"},
        )
        vscode = f"https://carol--vscode.{WORKSPACE_DOMAIN}:{stack.url.rsplit(':', 1)[1]}/"
        opened = person.get(vscode, headers={"Accept": "text/html"}, timeout=30)
        assert opened.status_code == 200, (opened.status_code, opened.url, opened.text[:300])
        assert opened.url == vscode  # came back from the handshake to the app itself
        assert any(cookie.name.startswith("__Host-") and cookie.secure for cookie in person.cookies)

        _api(admin, "POST", f"{stack.url}/api/workspaces/{workspace_id}/stop")
        assert _workspace_status(admin, stack, workspace_id) == "stopped"
        _api(admin, "POST", f"{stack.url}/api/workspaces/{workspace_id}/start")
        assert wait_until(
            lambda: _workspace_status(admin, stack, workspace_id) == "active", timeout=120, interval=0.5
        ), stack.logs_tail()
        assert person.get(vscode, headers={"Accept": "text/html"}, timeout=30).status_code == 200

        # Beat: its stats poll (nothing else polls) brought the host online and recorded it, and
        # its heartbeats (below) reach a worker on every queue, again and again.
        history = _api(admin, "GET", f"{stack.url}/api/servers/{server['id']}/stats")
        assert len(history) >= 1, history

        # Health knows beat and a worker for every queue are alive, from their heartbeats.
        health = stack.session().get(f"{stack.url}/api/health", timeout=10).json()
        assert health["message"] == "Healthy.", health
        assert all(
            health["data"][f"worker:{q}"].startswith("ok") for q in ("provisioning", "builds", "default")
        )

        deleted = admin.delete(f"{stack.url}/api/users/{carol['id']}", timeout=60)
        assert deleted.status_code in (200, 202, 204), deleted.text
        assert wait_until(lambda: not managed_container_names(stack.label_prefix), timeout=60, interval=0.5)

        # The edge session died with the account: once nginx's cached answer expires
        # (EDGE_AUTH_CACHE_SECONDS), the browser is sent back to the platform's handshake.
        def refused() -> requests.Response:
            return person.get(vscode, headers={"Accept": "text/html"}, timeout=30, allow_redirects=False)

        # (Until then the container's absence shows as the platform's "not reachable" page.)
        handshake = f"{stack.url}/edge/authorize"
        assert wait_until(
            lambda: refused().headers.get("Location", "").startswith(handshake), timeout=20, interval=1
        )
