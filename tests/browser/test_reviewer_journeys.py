"""What a reviewer does, in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright; no browser is downloaded) against the live site: log in, read the dashboard's
chart, approve a pending challenger, launch a simulation and watch its progress reach 100 %
through a real Celery worker. Screenshots go to var/screenshots/."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from recommender.engine.model import SVDConfig
from recommender.models import ModelVersion
from recommender.services.registry import model_version_train
from tests.conftest import skip_or_fail
from tests.test_celery_worker import celery_processes  # noqa: F401 - a fixture
from tests.users import create_reviewer
from tests.web.conftest import ROUNDS, world  # noqa: F401 - a fixture

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PASSWORD = "a-long-reviewer-password-for-tests"
# As the machine notes advise: no background traffic to hosts this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        skip_or_fail("the browser tests need Debian's chromium package (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread, and Django refuses ORM calls
    # from a thread with a running loop unless told the caller knows what it is doing (the
    # test does). Only while the browser is up: a leaked setting fails `check --deploy`.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def reviewer(transactional_db) -> User:
    """rita of tests/users.py, with a password: the browser logs in through the form."""
    return create_reviewer(password=PASSWORD)


@pytest.fixture
def page(chromium, live_server, reviewer):
    """A logged-in reviewer's browser tab."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    tab.goto("/login/")
    tab.fill("input[name=username]", reviewer.username)
    tab.fill("input[name=password]", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{live_server.url}/")
    yield tab
    context.close()


def screenshot(tab, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path


@pytest.mark.django_db(transaction=True)
def test_a_reviewer_reads_the_dashboard_chart_and_approves_a_pending_challenger(
    postgresql,
    world,  # noqa: F811
    page,
):
    pending = world["pending"]
    champion = ModelVersion.objects.get(status="champion")

    assert page.locator("h1").inner_text() == "Dashboard"
    chart = page.locator("figure[data-chart=dashboard-r2] svg")
    box = chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100, "the chart is drawn on screen"
    # one marker per round for the existing viewers' R², and a labelled axis
    points = page.locator("figure[data-chart=dashboard-r2] svg g[id$='-series-0'] use")
    assert points.count() == ROUNDS
    assert "R²" in chart.text_content()
    # The cycle itself may have sent a challenger to review too (its decision depends on
    # the data), so count them rather than assume one.
    waiting = ModelVersion.objects.filter(status="pending_review").count()
    assert waiting >= 1
    awaiting = page.locator("#review-title + p.big a")
    assert awaiting.inner_text() == f"{waiting} challenger{'s' if waiting != 1 else ''}"
    screenshot(page, "dashboard")

    awaiting.click()
    page.click(f"a:text-is('v{pending.pk}')")
    page.goto(f"/models/{pending.pk}/review/")
    assert "genre:Action" in page.content() or "Action" in page.content()
    page.fill("textarea[name=comment]", "Action lists look right again")
    screenshot(page, "challenger-review")
    page.click("button[value=approve]")

    page.wait_for_url(re.compile(rf"/models/{pending.pk}/$"))
    assert "it is now the champion" in page.locator(".messages").inner_text()
    page.goto("/")
    assert page.locator("#champion-title + p.big").inner_text() == f"v{pending.pk}"
    assert ModelVersion.objects.get(pk=pending.pk).status == "champion"
    assert ModelVersion.objects.get(pk=champion.pk).status == "retired"


@pytest.mark.django_db(transaction=True)
def test_a_simulation_launched_from_the_form_shows_progress_until_100_percent(
    postgresql,
    bundled_subset,
    artifact_dir,
    celery_processes,  # noqa: F811
    page,
    tmp_path,
):
    model_version_train(actor="command:test", config=SVDConfig(n_factors=20, n_epochs=10, seed=3))
    # The worker holds inside the first round (one transaction, not committed yet) until the
    # page has shown it mid-way: on a fast machine the four rounds take less than the page's
    # 1.5 s between polls, and progress written inside the round's transaction went unseen.
    gate = tmp_path / "gate"
    gate.write_text("scoring")
    celery_processes("worker", RECOMMENDER_TEST_GATE_FILE=str(gate))

    page.goto("/simulate/")
    page.fill("input[name=rounds]", "4")
    page.fill("input[name=shift]", "Action=0.8")
    page.fill("input[name=arrivals]", "0")
    page.click("button:text('Start the simulation')")
    page.wait_for_url(re.compile(r"/simulate/\d+/$"))

    seen: list[int] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        text = page.locator(".task-percent").first.inner_text()
        seen.append(int(text.rstrip(" %")))
        if gate.exists() and 0 < seen[-1] < 100:
            screenshot(page, "simulation-progress")
            gate.unlink()
        if seen[-1] == 100 and page.locator("text=See the metrics of these rounds").count():
            break
        time.sleep(0.25)

    assert seen[-1] == 100, seen
    assert any(0 < value < 100 for value in seen), f"progress was never seen mid-way: {seen}"
    assert page.locator("h1 .badge").inner_text() == "completed"
    assert page.locator("table.data tbody tr").count() == 4, "one row per round played"
