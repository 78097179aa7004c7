"""The web page in a real browser: Playwright drives Debian's headless Chromium against a fis server on 127.0.0.1.

Skipped without /usr/bin/chromium or the playwright package, unless FIS_REQUIRE_BROWSER=1 (then a failure).
Screenshots go to tests/artifacts/ (ignored by git).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from fis.config import Settings
from fis_archive import archive, ingest_into  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync",
]


def _browser_missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _browser_missing()
    if reason:
        if os.environ.get("FIS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"FIS_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextmanager
def serving(tmp_path: Path, archive: Path, **settings: Any) -> Iterator[tuple[str, Any]]:
    """A fis server (waitress, in a thread) on a free port of 127.0.0.1 over the small synthetic archive."""
    from waitress import create_server

    from fis.api.app import create_app
    from fis.store.db import upgrade

    app = create_app(Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'fis.sqlite'}",
                              **settings))
    upgrade(app.extensions["fis"].db)
    ingest_into(app, archive)
    wsgi = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{wsgi.effective_port}/", app
    finally:
        wsgi.close()
        thread.join(timeout=5)
        app.extensions["fis"].close()


@pytest.fixture
def server(tmp_path: Path, archive: Path) -> Iterator[str]:
    with serving(tmp_path, archive) as (url, _):
        yield url


class Watched:
    """A page with its console errors and every request that tried to leave 127.0.0.1 (those are aborted)."""

    def __init__(self, browser: Any, name: str) -> None:
        self.context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 1000})
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.name = name
        self.page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def shot(self, step: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{step}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert self.errors == [], f"console errors: {self.errors}"
        assert self.outside == [], f"requests that left 127.0.0.1: {self.outside}"


def _get(url: str, token: str | None = None) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
        body: bytes = response.read()
        return body


def _marked(page: Any) -> tuple[list[str], list[str]]:
    """Dates marked cloudy in the table and in the chart's ``cloudy`` dataset."""
    table = page.eval_on_selector_all(
        "#observations tbody tr[data-cloudy='true']", "rows => rows.map(r => r.dataset.date)"
    )
    chart = page.evaluate(
        """() => Chart.getChart(document.getElementById('chart')).data.datasets
                 .find(d => d.label === 'cloudy').data.map(p => new Date(p.x).toISOString().slice(0, 10))"""
    )
    return table, chart


def _api_cloudy(server: str, series_id: str, fraction: str, probability: str) -> list[str]:
    query = f"include_cloudy=true&max_cloud_fraction={fraction}&max_cloud_probability={probability}"
    body = json.loads(_get(f"{server}api/v1/timeseries/{series_id}?{query}"))
    return [o["date"] for o in body["observations"] if o["cloudy"]]


def test_draw_run_mark_download_and_share(browser: Any, server: str) -> None:
    from playwright.sync_api import expect

    watched = Watched(browser, "draw")
    page = watched.page
    page.goto(server)
    page.wait_for_selector("body[data-ready='true']")
    assert "Archive: 4 scenes" in page.inner_text("#status")

    # draw a square with mouse clicks in the middle of the footprints, closing it on the first corner
    page.click("#draw")
    box = page.locator("#map").bounding_box()
    cx, cy, half = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, min(box["width"], box["height"]) * 0.15
    corners = [(cx - half, cy - half), (cx + half, cy - half), (cx + half, cy + half), (cx - half, cy + half)]
    for x, y in [*corners, corners[0]]:
        page.mouse.click(x, y)
    expect(page.locator("#area")).to_have_text(re.compile(r" ha$"))
    area = float(page.inner_text("#area").split()[0])
    assert 0.5 < area < 36  # a part of the 600 m x 600 m archive
    watched.shot("1-drawn")

    page.click("#run")
    page.wait_for_selector("#result-panel:not([hidden])")
    expect(page.locator("#status")).to_have_text(re.compile(r"^Series "))
    series_id = parse_qs(urlsplit(page.url).query)["series"][0]
    api = json.loads(_get(f"{server}api/v1/timeseries/{series_id}?include_cloudy=true"))
    dates = [o["date"] for o in api["observations"]]
    assert dates == ["2023-06-01", "2023-06-11", "2023-06-21"]
    points = page.evaluate(
        """() => Object.fromEntries(Chart.getChart(document.getElementById('chart')).data.datasets
                 .map(d => [d.label, d.data.length]))"""
    )
    assert points["NDVI mean (clear)"] + points["cloudy"] == len(dates)  # one point per returned observation
    assert points["cloud_fraction"] == points["cloud_probability"] == len(dates)
    assert page.eval_on_selector_all("#observations tbody tr", "rows => rows.map(r => r.dataset.date)") == dates
    # the request's threshold (0.2) marks the cloudy scene's date, exactly as the API does
    table, chart = _marked(page)
    assert table == chart == _api_cloudy(server, series_id, "0.2", "") == ["2023-06-21"]
    watched.shot("2-profile")

    # keyboard: End moves max_cloud_fraction to 1 (nothing is cloudy), Home to 0 (any cloudy pixel is cloudy)
    page.focus("#max_cloud_fraction")
    page.keyboard.press("End")
    assert page.inner_text("#max_cloud_fraction_value") == "1.00"
    table, chart = _marked(page)
    assert table == chart == _api_cloudy(server, series_id, "1", "") == []
    page.keyboard.press("Home")
    table, chart = _marked(page)
    assert table == chart == _api_cloudy(server, series_id, "0", "")
    # the probability threshold as well, at a value between the dates' probabilities
    probabilities = sorted(o["cloud_probability"] for o in api["observations"])
    middle = round((probabilities[0] + probabilities[-1]) / 2, 2)
    page.check("#use_probability")
    page.eval_on_selector(
        "#max_cloud_probability",
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }",
        str(middle),
    )
    page.keyboard.press("Tab")
    page.uncheck("#use_fraction")
    table, chart = _marked(page)
    expected = _api_cloudy(server, series_id, "", str(middle))
    assert table == chart == expected and 0 < len(expected) < len(dates)
    watched.shot("3-remarked")

    # the CSV download is the API's own CSV for the same thresholds
    with page.expect_download() as csv_download:
        page.click("#download-csv")
    csv_text = Path(csv_download.value.path()).read_bytes()
    own = _get(
        f"{server}api/v1/timeseries/{series_id}?format=csv&include_cloudy=true"
        f"&max_cloud_fraction=&max_cloud_probability={middle}"
    )
    assert csv_text == own
    assert csv_text.count(b"\n") == len(dates) + 1
    with page.expect_download() as png_download:
        page.click("#download-png")
    assert Path(png_download.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as geojson_download:
        page.click("#download-geojson")
    feature = json.loads(Path(geojson_download.value.path()).read_text())
    assert feature["type"] == "Feature" and feature["id"] == series_id
    watched.close()

    # the shareable URL opens the stored series, with its stored threshold
    shared = Watched(browser, "shared")
    shared.page.goto(f"{server}?series={series_id}")
    shared.page.wait_for_selector("body[data-ready='true']")
    assert shared.page.is_visible("#result-panel")
    rows = shared.page.eval_on_selector_all("#observations tbody tr", "rows => rows.map(r => r.dataset.date)")
    assert rows == dates
    assert shared.page.inner_text("#max_cloud_fraction_value") == "0.20"
    assert _marked(shared.page)[0] == ["2023-06-21"]
    assert shared.page.is_visible(f"#stored tbody tr[data-id='{series_id}']")
    shared.shot("4-shared")
    shared.close()


def test_api_errors_are_shown_as_the_api_words_them(browser: Any, server: str) -> None:
    from playwright.sync_api import expect

    watched = Watched(browser, "errors")
    page = watched.page
    page.goto(server)
    page.wait_for_selector("body[data-ready='true']")
    page.click("text=Paste GeoJSON or WKT")
    page.fill("#paste", "POLYGON ((0 0, 1 1))")
    page.click("#use-paste")
    page.wait_for_selector("#status.error")
    assert page.inner_text("#status").startswith("Error (field: geometry): geometry:")
    # an upload the server cannot read names the file field
    page.set_input_files("#upload", {"name": "field.kml", "mimeType": "text/xml", "buffer": b"<kml/>"})
    expect(page.locator("#status")).to_have_text(
        re.compile(r"^Error \(field: file\): file: 'field\.kml' is not a supported file; upload a GeoJSON")
    )
    watched.shot("errors")
    # the page logs nothing itself: API errors are shown, not thrown; the browser logs failed (4xx) fetches
    watched.errors = [e for e in watched.errors if "status of 400" not in e]
    watched.close()


def test_page_works_on_a_phone_sized_screen(browser: Any, server: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(server)
    page.wait_for_selector("body[data-ready='true']")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width} px wide)"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "phone.png"), full_page=True)
    context.close()


def _draw_square(page: Any) -> None:
    """Draw a square in the middle of the map with mouse clicks, closing it on its first corner."""
    page.click("#draw")
    box = page.locator("#map").bounding_box()
    cx, cy, half = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, min(box["width"], box["height"]) * 0.15
    corners = [(cx - half, cy - half), (cx + half, cy - half), (cx + half, cy + half), (cx - half, cy + half)]
    for x, y in [*corners, corners[0]]:
        page.mouse.click(x, y)


def test_page_signs_in_with_client_credentials_when_auth_is_required(
    browser: Any, tmp_path: Path, archive: Path
) -> None:
    """FIS_AUTH=required: the page asks for a client, keeps the token in sessionStorage, sends it on every
    call (downloads too), and asks again when the token expires or the API no longer knows it."""
    from playwright.sync_api import expect

    from fis.services.clients import create_client

    with serving(tmp_path, archive, auth="required") as (server, app):
        client_id, secret = create_client(app.extensions["fis"].sessions, "browser")
        watched = Watched(browser, "auth")
        page = watched.page
        sent: list[tuple[str, str | None]] = []
        page.on("request", lambda r: sent.append((urlsplit(r.url).path, r.headers.get("authorization"))))
        page.goto(server)  # the page itself needs no token
        dialog = page.locator("#sign-in")
        expect(dialog).to_be_visible()
        assert "FIS_AUTH=required" in page.inner_text("#sign-in-reason")
        assert page.evaluate("document.activeElement.id") == "client_id"
        # a wrong secret: the token endpoint's OAuth2 error, in the dialog, which stays open
        page.fill("#client_id", client_id)
        page.fill("#client_secret", "wrong")
        page.click("#sign-in-submit")
        expect(page.locator("#sign-in-error")).to_have_text(re.compile(r"^invalid_client: unknown client, wrong"))
        expect(dialog).to_be_visible()
        watched.shot("0-sign-in")
        page.fill("#client_secret", secret)
        page.keyboard.press("Enter")
        page.wait_for_selector("body[data-ready='true']")
        expect(dialog).to_be_hidden()
        assert "Archive: 4 scenes" in page.inner_text("#status")
        held = json.loads(page.evaluate("sessionStorage.getItem('fis-token')"))
        token = held["access_token"]
        assert page.evaluate("localStorage.length") == 0
        assert secret not in page.evaluate("JSON.stringify(Object.entries(sessionStorage))")
        assert page.is_visible("#sign-out")

        _draw_square(page)
        expect(page.locator("#area")).to_have_text(re.compile(r" ha$"))
        page.click("#run")
        page.wait_for_selector("#result-panel:not([hidden])")
        expect(page.locator("#status")).to_have_text(re.compile(r"^Series "))
        series_id = parse_qs(urlsplit(page.url).query)["series"][0]
        stored = json.loads(_get(f"{server}api/v1/timeseries/{series_id}?include_cloudy=true", token))
        assert [o["date"] for o in stored["observations"]] == ["2023-06-01", "2023-06-11", "2023-06-21"]
        # the series is this client's: another client does not see it
        other_id, other_secret = create_client(app.extensions["fis"].sessions, "someone else")
        other = app.test_client().post("/oauth/token", data={
            "grant_type": "client_credentials", "client_id": other_id, "client_secret": other_secret}).get_json()
        assert app.test_client().get(f"/api/v1/timeseries/{series_id}", headers={
            "Authorization": f"Bearer {other['access_token']}"}).status_code == 404
        # every API call carried the token (after the first 401s that asked for it)
        api_calls = [(path, auth) for path, auth in sent if "/api/v1/" in path]
        first_authorized = next(i for i, (_, auth) in enumerate(api_calls) if auth)
        assert {auth for _, auth in api_calls[first_authorized:]} == {f"Bearer {token}"}
        assert [path for path, auth in sent if path.endswith("/oauth/token")] == ["/oauth/token"] * 2
        # a download link cannot send a header: the page fetches the file with the token
        with page.expect_download() as csv_download:
            page.click("#download-csv")
        own = _get(f"{server}api/v1/timeseries/{series_id}?format=csv&include_cloudy=true"
                   "&max_cloud_fraction=0.2&max_cloud_probability=", token)
        assert Path(csv_download.value.path()).read_bytes() == own
        watched.shot("1-signed-in")

        # a token the API no longer knows (e.g. revoked): 401, the page asks again and repeats the call
        page.evaluate("""() => sessionStorage.setItem('fis-token',
                         JSON.stringify({access_token: 'revoked', expires_at: Date.now() + 600000}))""")
        page.click("#refresh-list")
        expect(dialog).to_be_visible()
        assert "expired" in page.inner_text("#sign-in-reason")
        services = app.extensions["fis"]  # tokens issued from now on live 4 s (FIS_TOKEN_TTL)
        services.settings = dataclasses.replace(services.settings, token_ttl=4)
        page.fill("#client_id", client_id)
        page.fill("#client_secret", secret)
        page.click("#sign-in-submit")
        expect(dialog).to_be_hidden()
        expect(page.locator(f"#stored tbody tr[data-id='{series_id}']")).to_be_visible()
        # the token's lifetime ends: the next call asks again
        expires_at = json.loads(page.evaluate("sessionStorage.getItem('fis-token')"))["expires_at"]
        page.wait_for_timeout(max(0, expires_at - page.evaluate("Date.now()")) + 200)
        page.click("#refresh-list")
        expect(dialog).to_be_visible()
        assert "expired" in page.inner_text("#sign-in-reason")
        # cancelling leaves the page usable and says why nothing happened
        page.click("#sign-in-cancel")
        expect(page.locator("#status")).to_have_text(re.compile(r"not signed in"))
        watched.shot("2-expired")
        # a token pasted instead of the secret (from POST /oauth/token elsewhere) works as well
        pasted = app.test_client().post("/oauth/token", data={
            "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}).get_json()
        page.click("#refresh-list")
        expect(dialog).to_be_visible()
        page.click("text=Or paste an access token")
        page.fill("#access_token", pasted["access_token"])
        page.click("#sign-in-submit")
        expect(dialog).to_be_hidden()
        expect(page.locator(f"#stored tbody tr[data-id='{series_id}']")).to_be_visible()
        listed = [auth for path, auth in sent if path == "/api/v1/timeseries"]
        assert listed[-1] == f"Bearer {pasted['access_token']}"
        # the browser logs the 401 answers (and the failed token request) as failed loads; the page throws nothing
        watched.errors = [e for e in watched.errors if "status of 401" not in e]
        watched.close()
