"""The admin's build page follows the build's live log in Chromium: new lines as they come, the
tail kept in view, ANSI colours as spans and never markup from the log (issue #15)."""

from __future__ import annotations

import pytest

from builds.models import Build, BuildStatus
from builds.services.builds import build_log_append
from events.models import EventKind
from events.services import event_publish
from tests.browser import admin_log_in
from tests.factories import UserFactory


@pytest.mark.django_db(transaction=True)
def test_the_build_page_follows_its_log(live_server, browser_page):
    admin = UserFactory(admin=True)
    build = Build.objects.create(reference="team/live:1", repository="team/live", status=BuildStatus.RUNNING)
    build_log_append(build_id=build.pk, lines=[f"stored line {n}" for n in range(80)])
    page = browser_page
    admin_log_in(page, live_server.url, admin.email)
    page.goto(f"{live_server.url}/admin/builds/build/{build.pk}/change/")
    page.wait_for_selector("#build-log:has-text('stored line 79')")
    page.wait_for_timeout(1000)  # the EventSource is connected

    build_log_append(build_id=build.pk, lines=["\x1b[31mred step\x1b[0m <img src=x onerror=alert(1)>"])
    page.wait_for_selector("#build-log span.ansi-31:has-text('red step')", timeout=10000)
    assert page.locator("#build-log img").count() == 0  # the log's text stays text
    assert "\x1b" not in page.inner_text("#build-log")
    at_bottom = "(() => { const b = document.getElementById('build-log');"
    at_bottom += " return b.scrollHeight - b.scrollTop - b.clientHeight < 8; })()"
    assert page.evaluate(at_bottom)  # the tail is in view, not the top

    event_publish(job=f"build:{build.pk}", kind=EventKind.DONE, text="Build succeeded.")
    page.wait_for_selector("#build-log-state:has-text('Build succeeded.')", timeout=10000)
