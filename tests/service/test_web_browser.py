"""The web page in headless Chromium (Playwright) against a real server: list, filter, sort, burndown, escaping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .browser import (
    XSS,
    chromium,
    expected_burndown,
    live_server,
    local_settings,
    require_browser,
    screenshot_dir,
    seed_repository,
    web_app,
)

LOCAL = "local:/srv/projects/churn-model"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    from paydown.service.store import Store

    tmp = tmp_path_factory.mktemp("web")
    settings = local_settings(tmp)
    store = Store(settings.database_url)
    store.migrate()
    seed_repository(store, LOCAL, local_path="/srv/projects/churn-model")
    try:
        with live_server(web_app(settings, store)) as server:
            yield server.url
    finally:
        store.dispose()


@pytest.fixture(scope="module")
def browser(site: str) -> Iterator[Any]:
    with chromium() as context:
        yield context


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.problems = problems
    yield page
    page.close()


def item_keys(page: Any) -> list[str]:
    return page.eval_on_selector_all("tr.item", "rows => rows.map(r => r.dataset.key)")


def shoot(page: Any, name: str) -> None:
    page.screenshot(path=str(screenshot_dir() / f"{name}.png"), full_page=True)


def test_the_repositories_page_links_to_the_backlog(site: str, page: Any) -> None:
    page.goto(site + "/")
    row = page.locator("tr[data-repo]")
    assert row.count() == 1
    assert row.get_attribute("data-open-hours") == "7"
    assert page.locator("td.delta").inner_text().strip() == "▼ -8.5 h"
    shoot(page, "repositories")
    page.click("text=churn-model")
    assert page.url == f"{site}/repos/{LOCAL}"
    assert page.locator("h1").inner_text().startswith("churn-model")
    assert page.problems == []  # the stylesheet loads under the CSP and nothing is refused


def test_the_backlog_lists_filters_and_sorts_items(site: str, page: Any) -> None:
    page.goto(f"{site}/repos/{LOCAL}")
    assert item_keys(page) == ["flag-a", "clone-c", "pins-b"]
    assert page.locator("svg[data-chart=trend] circle.point").count() == 3
    shoot(page, "backlog")

    page.select_option("select[name=kind]", "dead-flag")
    page.select_option("select[name=state]", "all")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    assert "kind=dead-flag" in page.url and "state=all" in page.url
    assert item_keys(page) == ["flag-a", "flag-e"]
    totals = page.eval_on_selector_all("table.totals tbody tr", "rows => rows.map(r => [r.dataset.kind, "
                                       "r.dataset.count, r.dataset.effort])")
    assert totals == [["dead-flag", "2", "2.5"], ["all", "2", "2.5"]]

    page.fill("input[name=path]", "features")
    page.select_option("select[name=kind]", "")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    assert item_keys(page) == ["clone-c", "input-d"]
    shoot(page, "backlog-filtered")

    page.goto(f"{site}/repos/{LOCAL}")
    page.click("table.items thead >> text=Effort (h)")
    page.wait_for_load_state()
    assert item_keys(page) == ["clone-c", "flag-a", "pins-b"]
    page.click("table.items thead >> text=Effort (h)")  # the same column again: reversed
    page.wait_for_load_state()
    assert item_keys(page) == ["pins-b", "flag-a", "clone-c"]
    assert page.problems == []


def test_the_burndown_shows_the_remaining_effort_of_known_days(site: str, page: Any) -> None:
    expected = expected_burndown()
    page.goto(f"{site}/repos/{LOCAL}")
    page.click("ul.sprints >> text=Sprint <4> cleanup")
    assert page.url == f"{site}/repos/{LOCAL}/sprints/4"
    chart = "svg[data-chart=burndown]"
    remaining = page.eval_on_selector_all(f"{chart} circle.remaining",
                                          "cs => cs.map(c => [c.dataset.day, Number(c.dataset.remaining)])")
    assert dict(remaining) == expected["remaining"]
    ideal = page.eval_on_selector_all(f"{chart} circle.ideal", "cs => cs.map(c => [c.dataset.day, "
                                      "Number(c.dataset.ideal)])")
    assert dict(ideal) == expected["ideal"]
    changes = page.eval_on_selector_all(f"{chart} .scope-change", "ps => ps.map(p => [p.dataset.day, "
                                        "p.dataset.change, p.dataset.issue])")
    assert changes == [[expected["change_day"], "added", "13"]]
    assert page.locator(f"{chart}").get_attribute("aria-label") == (
        "Burndown of Sprint <4> cleanup: started with 6 hours, 7 hours remaining, 1 scope change")
    assert page.locator(f"{chart} > title").text_content() == "Burndown of Sprint <4> cleanup"
    box = page.locator(chart).bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 200  # drawn at a readable size
    shoot(page, "sprint")
    assert page.problems == []


def test_a_finding_with_a_script_tag_renders_as_text(site: str, page: Any) -> None:
    page.goto(f"{site}/repos/{LOCAL}")
    titles = page.eval_on_selector_all("tr.item .title", "ts => ts.map(t => t.textContent)")
    assert XSS in titles
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("script").count() == 0


def test_a_repository_out_of_view_is_a_plain_404(site: str, page: Any) -> None:
    response = page.goto(f"{site}/repos/octo-org/private")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    shoot(page, "not-found")
