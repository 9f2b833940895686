"""`register_server` against a real agent; the chart renderer escapes what it prints."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditLog
from servers.charts import svg_line_chart
from servers.models import Server, ServerStatus
from tests.net import free_port
from tests.services import require_docker

pytestmark = pytest.mark.django_db


def test_register_server_checks_a_real_agent(agent_factory, monkeypatch, tmp_path):
    require_docker()
    agent = agent_factory()
    secret_file = tmp_path / "secret"
    secret_file.write_text(agent.secret + "\n")
    out = StringIO()
    call_command(
        "register_server", "cmd-host", "127.0.0.1", "--port", str(agent.port),
        "--secret-file", str(secret_file), "--label", "zone=a", stdout=out,
    )  # fmt: skip
    server = Server.objects.get(name="cmd-host")
    assert server.status == ServerStatus.ONLINE and server.labels == {"zone": "a"}
    assert server.agent_secret == agent.secret
    assert "is online" in out.getvalue() and agent.secret not in out.getvalue()
    assert AuditLog.objects.get(action_type="server.registered").source == "command"


def test_register_server_reports_an_unreachable_agent(monkeypatch, settings):
    settings.AGENT_CONNECT_TIMEOUT = 0.5
    monkeypatch.setenv("AGENT_SECRET", "a-secret-from-the-environment")
    with pytest.raises(CommandError, match="registered but offline"):
        call_command(
            "register_server", "cmd-dead", "127.0.0.1", "--port", str(free_port()), stdout=StringIO()
        )
    assert Server.objects.get(name="cmd-dead").agent_secret == "a-secret-from-the-environment"


def test_register_server_refuses_bad_input(monkeypatch):
    monkeypatch.setenv("AGENT_SECRET", "a-secret-from-the-environment")
    with pytest.raises(CommandError, match="address"):
        call_command("register_server", "cmd-bad", "http://x/", "--no-check", stdout=StringIO())
    assert not Server.objects.exists()


def test_chart_escapes_text_and_draws_gaps():
    now = timezone.now()
    points = [(now - timedelta(minutes=3), 10.0), (now - timedelta(minutes=2), None), (now, 50.0)]
    svg = svg_line_chart(points, title="<script>x</script>", unit="%", max_value=100)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count("<polyline") == 2  # the gap splits the line
    assert "Not enough data" in svg_line_chart([], title="empty")
