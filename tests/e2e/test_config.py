"""The page applies the server's rules (GET /api/config), not copies of its own.

The browser is handed a config that differs from the real one (a shorter name limit, a
longer minimum password, another red): if the page kept its own copy of a rule, it would
go on applying that copy, and these checks would fail.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Route, expect

from c4actors.server_process import ServerProcess
from tests.e2e.people import NewContext, People

pytestmark = pytest.mark.e2e


def altered(config: dict[str, Any]) -> dict[str, Any]:
    return {
        **config,
        "name": {"pattern": "^(?:[a-z]{1,5})$", "max_length": 5},
        "password": {"min_length": 11, "max_length": 12},
        "palette": {**config["palette"], "red": "#123456"},
    }


def test_the_page_follows_the_rules_the_server_serves(
    people: People, new_context: NewContext, server: ServerProcess
) -> None:
    def serve_altered(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, json=altered(response.json()))

    context = new_context()
    context.route("**/api/config", serve_altered)
    page = context.new_page()
    people.watch(page, "altered")
    page.goto(server.http_url)

    # Name: the limit and the character rule are the served ones, in the hint and the check.
    expect(page.locator("#panel-guest .hint")).to_contain_text("1\u20135 characters")
    page.locator("#name-input").fill("abcdef")
    page.get_by_role("button", name="Play", exact=True).click()
    expect(page.locator("#name-error")).to_have_text(
        "That name is too long: at most 5 characters (it has 6)."
    )
    page.locator("#name-input").fill("Abc")
    page.get_by_role("button", name="Play", exact=True).click()
    expect(page.locator("#name-error")).to_contain_text("Use only")

    # Password: the served bounds, in the hint and the check.
    page.get_by_role("tab", name="Register").click()
    expect(page.locator("#register-password-hint")).to_have_text("11 to 12 characters.")
    form = page.locator("#register-form")
    form.get_by_label("Username").fill("abc")
    form.get_by_label("Password").fill("ten chars!")
    form.get_by_role("button", name="Create account").click()
    expect(page.locator("#register-password-error")).to_have_text(
        "That password is too short: at least 11 characters (it has 10)."
    )

    # Palette: the guests' first colour is the served red.
    player1 = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--p1').trim()"
    )
    assert player1 == "#123456"
