"""Render the edge's nginx configuration (the platform and every workspace host) for a deployment.

manage.py render_nginx_config --listen 80 --backend 127.0.0.1:8000 --output /etc/nginx/conf.d/mgmt.conf
manage.py render_nginx_config --listen 443 --tls-cert /etc/ssl/mgmt/fullchain.pem \
    --tls-key /etc/ssl/mgmt/privkey.pem --http-redirect 80 --output /etc/nginx/conf.d/mgmt.conf
manage.py render_nginx_config --standalone var/nginx --listen 127.0.0.1:8080 --backend 127.0.0.1:8000

PLATFORM_URL, WORKSPACE_DOMAIN and EDGE_AUTH_CACHE_SECONDS come from the settings. The output
holds the edge's link secret (derived from SECRET_KEY): it is written readable by its owner only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from containers.nginx import render_platform_config, write_standalone_config
from mgmt.exceptions import ValidationFailed


class Command(BaseCommand):
    help = "Render the nginx configuration that serves the platform and every workspace host."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--listen", default="80", help="address:port or port nginx listens on")
        parser.add_argument(
            "--backend", default="127.0.0.1:8000", help="host:port of gunicorn (comma-separated: web nodes)"
        )
        parser.add_argument("--server-name", default="_")
        parser.add_argument("--max-body-size", default="64m")
        parser.add_argument(
            "--cache-dir", default="/var/cache/nginx/mgmt-edge", help="nginx's cache of auth answers"
        )
        parser.add_argument("--tls-cert", default="", help="certificate chain: HTTPS on --listen")
        parser.add_argument("--tls-key", default="", help="the certificate's private key file")
        parser.add_argument(
            "--http-redirect", default="", metavar="LISTEN", help="also listen here and redirect to HTTPS"
        )
        parser.add_argument("--output", help="write the configuration here instead of stdout")
        parser.add_argument("--standalone", metavar="PREFIX", help="write a complete nginx.conf under PREFIX")

    def handle(self, *args: Any, **options: Any) -> None:
        server = {
            "listen": options["listen"],
            "backend": options["backend"],
            "server_name": options["server_name"],
            "max_body_size": options["max_body_size"],
            "tls_cert": options["tls_cert"],
            "tls_key": options["tls_key"],
            "http_redirect": options["http_redirect"],
        }
        try:
            if options["standalone"]:
                path = write_standalone_config(prefix=Path(options["standalone"]), **server)
                self.stdout.write(f"Wrote {path}; run: nginx -p {path.parent} -c {path}")
                return
            text = render_platform_config(cache_dir=options["cache_dir"], **server)
        except ValidationFailed as exc:
            raise CommandError(exc.message) from exc
        if options["output"]:
            path = Path(options["output"])
            path.touch(mode=0o600)
            path.chmod(0o600)
            path.write_text(text)
            self.stdout.write(f"Wrote {options['output']}")
        else:
            self.stdout.write(text)
