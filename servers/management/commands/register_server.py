"""`manage.py register_server NAME ADDRESS`: register a Docker host and check its agent.

Secrets never go on the command line (other users can read it in `ps`): the
agent secret comes from `--secret-file`, the environment variable named by
`--secret-env` (default AGENT_SECRET) or a prompt.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.models import AuditSource
from mgmt.exceptions import ApplicationError
from servers.models import ServerStatus
from servers.services import hosts, ssh, stats


class Command(BaseCommand):
    help = "Register a Docker host (its agent and optional SSH access), then check that its agent answers."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("address", help="IP address or DNS name of the host's agent.")
        parser.add_argument("--port", type=int, default=None, help="Agent port (default: AGENT_PORT).")
        parser.add_argument("--tls", action="store_true", help="The agent is served over HTTPS.")
        parser.add_argument("--secret-file", type=Path, help="File holding the agent's shared secret.")
        parser.add_argument("--secret-env", default="AGENT_SECRET", help="Variable holding the secret.")
        parser.add_argument("--ssh-user", default="")
        parser.add_argument("--ssh-port", type=int, default=22)
        parser.add_argument("--ssh-key-file", type=Path, help="Private key for SSH operator actions.")
        parser.add_argument("--ssh-fingerprint", default="", help='Pinned host key, "SHA256:…".')
        parser.add_argument(
            "--pin-ssh-host-key",
            action="store_true",
            help="Fetch and pin the host key now (only when no fingerprint is given; check it!).",
        )
        parser.add_argument("--label", action="append", default=[], help="key=value, repeatable.")
        parser.add_argument("--no-check", action="store_true", help="Do not ask the agent for stats.")

    def _secret(self, options: dict) -> str:
        if options["secret_file"]:
            return options["secret_file"].read_text().strip()
        if os.environ.get(options["secret_env"]):
            return os.environ[options["secret_env"]].strip()
        return getpass.getpass("Agent secret: ").strip()

    def handle(self, *args, **options) -> None:
        labels = {}
        for item in options["label"]:
            key, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--label {item!r}: use key=value.")
            labels[key] = value
        try:
            server = hosts.server_register(
                actor=None,
                source=AuditSource.COMMAND,
                name=options["name"],
                address=options["address"],
                agent_port=options["port"],
                agent_tls=options["tls"],
                agent_secret=self._secret(options),
                ssh_user=options["ssh_user"],
                ssh_port=options["ssh_port"],
                ssh_private_key=options["ssh_key_file"].read_text() if options["ssh_key_file"] else "",
                ssh_host_key_fingerprint=options["ssh_fingerprint"],
                labels=labels,
            )
            self.stdout.write(f"Registered {server.name} at {server.agent_url}.")
            if options["pin_ssh_host_key"] and not server.ssh_host_key_fingerprint:
                server = ssh.server_ssh_pin_host_key(actor=None, server=server, source=AuditSource.COMMAND)
                self.stdout.write(f"Pinned SSH host key {server.ssh_host_key_fingerprint} (verify it).")
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if options["no_check"]:
            return
        status = stats.servers_poll(server_ids=[server.pk])[server.name]
        server.refresh_from_db()
        if status != ServerStatus.ONLINE:
            raise CommandError(f"{server.name} is registered but {status}: {server.status_detail}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{server.name} is online: {server.cpu_count} CPUs, "
                f"{(server.memory_total or 0) / 2**30:.1f} GiB memory, {server.gpu_count} GPUs."
            )
        )
