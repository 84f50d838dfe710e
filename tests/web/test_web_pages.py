"""The pages in headless Chromium against the real server with the Lima demo."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from routing.contact_hours import PERU

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (requirements-dev.txt)"
)

TILE_HOST = "tile.openstreetmap.org"


def _days(day: str, offset: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=offset)).isoformat()


def _no_page_errors(web: Any) -> None:
    assert web.errors == [], web.errors
    # Libraries come from the server; the only off-site requests are the (offline) map tiles.
    assert web.external_hosts <= {TILE_HOST}, web.external_hosts


def test_web_pages_need_a_token_and_home_sends_each_role_to_its_page(web: Any) -> None:
    web.page.goto(web.server.url + "/dispatch")
    web.page.wait_for_url("**/login?next=%2Fdispatch")
    web.login("dispatcher", "/")
    web.page.wait_for_url("**/dispatch")
    web.page.evaluate("sessionStorage.clear()")
    web.login("manager", "/")
    web.page.wait_for_url("**/dashboard")
    web.page.wait_for_selector("body[data-ready='1']")
    web.screenshot("login-manager-dashboard")
    web.page.goto(web.server.url + "/login")
    web.page.fill("#username", "manager")
    web.page.fill("#password", "wrong-password")
    web.page.click("#login-submit")
    web.page.wait_for_selector("#login-error:not([hidden])")
    assert "incorrectos" in web.page.inner_text("#login-error")
    _no_page_errors(web)


def test_web_map_shows_one_marker_per_active_collector(web: Any) -> None:
    active = web.server.active_collectors()
    live = web.server.get("/tracking/live", "manager")
    positioned = [f for f in live["features"] if f["geometry"]]
    assert len(positioned) == len(active) == 25
    web.sign_in_as("manager")
    web.open("/map")
    markers = web.page.locator(".leaflet-marker-icon .cmarker")
    assert markers.count() == len(active)
    shown = {int(x) for x in markers.evaluate_all("els => els.map(e => e.dataset.collectorId)")}
    assert shown == {c["id"] for c in active}
    # Zones are polygons on the plain background; the tiles could not load and the page says so.
    assert web.page.locator("path.leaflet-interactive").count() >= 1
    web.page.wait_for_selector("#tiles-offline:not([hidden])")
    web.page.wait_for_selector("#stream-state.on")
    web.screenshot("map-live")
    # With clustering on (it starts at 60 collectors), clusters hold every collector once.
    web.open("/map?cluster_above=0")
    web.page.wait_for_selector(".marker-cluster")
    in_clusters = sum(int(x) for x in web.page.locator(".marker-cluster span").all_inner_texts())
    alone = web.page.locator(".leaflet-marker-icon .cmarker").count()
    assert in_clusters + alone == len(active)
    web.screenshot("map-clustered")
    _no_page_errors(web)


def test_web_map_marker_moves_within_two_seconds_of_a_new_position(web: Any) -> None:
    collector = web.server.active_collectors()[2]
    cid = collector["id"]
    web.sign_in_as("dispatcher")
    web.open("/map")
    web.page.wait_for_selector("#stream-state.on")
    before = web.page.evaluate(f"window.liveMap.position({cid})")
    style_before = web.page.locator(f".cmarker[data-collector-id='{cid}']").evaluate(
        "el => el.parentElement.style.transform"
    )
    lat, lon = before["lat"] + 0.004, before["lng"] + 0.003  # about 550 m away
    result = web.server.post_fix(cid, lat, lon)
    assert result["accepted"] == 1, result
    web.page.wait_for_function(
        f"() => Math.abs(window.liveMap.position({cid}).lat - {lat}) < 1e-6", timeout=2000
    )
    style_after = web.page.locator(f".cmarker[data-collector-id='{cid}']").evaluate(
        "el => el.parentElement.style.transform"
    )
    assert style_after != style_before
    web.screenshot("map-marker-moved")
    _no_page_errors(web)


def test_web_map_click_shows_planned_route_track_and_progress(web: Any) -> None:
    plans = web.server.get(f"/plans?date={web.server.today}", "dispatcher")
    published = next(p for p in plans if p["status"] == "published")
    plan = web.server.get(f"/plans/{published['id']}", "dispatcher")
    route = next(r for r in plan["routes"] if r["stops"])
    cid = route["collector_id"]
    # The collector knocks on the first door and nobody answers.
    first = route["stops"][0]
    visit = str(uuid.uuid4())
    now = datetime.now(UTC).isoformat()
    check_in = {
        "visit_uuid": visit,
        "account_id": first["account_id"],
        "lat": first["lat"],
        "lon": first["lon"],
        "accuracy": 8,
    }
    pushed = web.server.push(
        cid,
        [
            {"id": 1, "name": "check_in", "args": check_in, "client_time": now},
            {
                "id": 2,
                "name": "record_visit",
                "args": {"visit_uuid": visit, "disposition": "no_answer"},
                "client_time": now,
            },
        ],
    )
    assert pushed["counts"]["applied"] == 2, pushed
    web.sign_in_as("dispatcher")
    web.open("/map")
    web.page.locator(f".cmarker[data-collector-id='{cid}']").click()
    web.page.wait_for_selector("#route-stops li.route-stop")
    assert web.page.locator("#route-stops li.route-stop").count() == len(route["stops"])
    assert web.page.evaluate("window.liveMap.routeStopCount()") == len(route["stops"])
    # Visited stops take the color and label of their disposition (from the KPI model).
    visited = web.page.locator(f"#route-stops li[data-account-id='{first['account_id']}']")
    assert "Nadie atiende" in visited.inner_text()
    pending = web.page.locator(
        f"#route-stops li[data-account-id='{route['stops'][-1]['account_id']}']"
    )
    assert "Pendiente" in pending.inner_text()
    live = next(
        f["properties"]
        for f in web.server.get("/tracking/live", "dispatcher")["features"]
        if f["properties"]["collector_id"] == cid
    )
    progress = f"{live['visits_done']} / {live['visits_planned']}"
    assert web.page.inner_text("#visits-progress") == progress
    # A live fix for the selected collector refreshes the details but keeps the route list.
    here = web.page.evaluate(f"window.liveMap.position({cid})")
    assert web.server.post_fix(cid, here["lat"] + 0.001, here["lng"])["accepted"] == 1
    web.page.wait_for_function(
        f"() => Math.abs(window.liveMap.position({cid}).lat - {here['lat'] + 0.001}) < 1e-6"
    )
    assert web.page.locator("#route-stops li.route-stop").count() == len(route["stops"])
    web.screenshot("map-collector-route")

    # Replay yesterday (the demo's history) with the time slider.
    yesterday = _days(web.server.today, -1)
    track = web.server.get(f"/collectors/{cid}/track?date={yesterday}", "dispatcher")
    line = next(f for f in track["features"] if f["properties"]["kind"] == "track")
    fixes = len(line["geometry"]["coordinates"])
    assert fixes > 2
    web.page.fill("#replay-date", yesterday)
    web.page.click("#replay-load")
    web.page.wait_for_selector("#replay-slider:enabled")
    assert web.page.get_attribute("#replay-slider", "max") == str(fixes - 1)
    middle = fixes // 2
    web.page.locator("#replay-slider").evaluate(
        f"s => {{ s.value = '{middle}'; s.dispatchEvent(new Event('input')); }}"
    )
    assert f"({middle + 1}/{fixes})" in web.page.inner_text("#replay-time")
    web.screenshot("map-replay")
    _no_page_errors(web)


def test_web_dispatch_plans_to_100_percent_and_moving_a_stop_updates_totals(web: Any) -> None:
    web.sign_in_as("dispatcher")
    web.open("/dispatch")
    # The board proposes the next day with legal contact hours (Friday's is Monday in Peru).
    day = web.page.input_value("#plan-date")
    assert day == PERU.next_contact_day(date.fromisoformat(web.server.today)).isoformat()
    collectors = web.server.active_collectors()
    left_out = collectors[-1]["id"]
    web.page.uncheck(f"#collector-checks input[value='{left_out}']")
    web.page.fill("#top", "30")
    web.page.fill("#time-limit", "2")
    web.page.click("#start-plan")
    try:
        web.page.wait_for_selector("#plan-status[data-status='done']", timeout=120000)
    except playwright_api.TimeoutError:
        latest = web.server.get(f"/plans?date={day}", "dispatcher")[:1]
        pytest.fail(f"the plan did not finish in 120 s; the API says {latest}")
    assert web.page.get_attribute("#progress-bar", "data-progress") == "100"
    rows = web.page.locator("#totals tbody tr")
    assert rows.count() >= 2
    plan = web.page.evaluate("window.dispatchBoard.plan()")
    api_plan = web.server.get(f"/plans/{plan['id']}", "dispatcher")
    assert api_plan["status"] == "done"
    assert left_out not in {r["collector_id"] for r in api_plan["routes"]}
    assert {r["collector_id"] for r in api_plan["routes"] if r["stops"]} == {
        int(x) for x in rows.evaluate_all("els => els.map(e => e.dataset.collectorId)")
    }
    # One colored polyline per route with stops, plus numbered stop markers.
    planned = sum(len(r["stops"]) for r in api_plan["routes"])
    assert web.page.locator(".leaflet-marker-icon .stopnum").count() == planned
    web.screenshot("dispatch-planned")
    web.page.click("#publish")
    web.page.wait_for_selector("#plan-status[data-status='published']")
    assert web.server.get(f"/plans/{plan['id']}", "dispatcher")["status"] == "published"

    routes = sorted((r for r in api_plan["routes"] if r["stops"]), key=lambda r: -len(r["stops"]))
    source, target = routes[0], routes[1]
    stop = source["stops"][-1]

    def visits(collector_id: int) -> int:
        cell = web.page.locator(f"#totals tbody tr[data-collector-id='{collector_id}'] td.visits")
        return int(cell.inner_text())

    assert visits(source["collector_id"]) == len(source["stops"])
    # Stops can overlap on the map; the event goes to this stop's marker whatever lies on top.
    web.page.locator(f".leaflet-marker-icon[title='{stop['account_id']}']").dispatch_event("click")
    web.page.wait_for_selector("#stop-form:not([hidden])")
    web.page.select_option("#move-to", str(target["collector_id"]))
    web.page.fill("#move-position", "")
    web.page.click("#apply-stop")
    web.page.wait_for_function(
        f"() => document.querySelector(\"#totals tr[data-collector-id='{target['collector_id']}'] td.visits\")"
        f".textContent === '{len(target['stops']) + 1}'"
    )
    assert visits(source["collector_id"]) == len(source["stops"]) - 1
    after = web.server.get(f"/plans/{plan['id']}", "dispatcher")
    moved_to = next(r for r in after["routes"] if r["collector_id"] == target["collector_id"])
    assert stop["account_id"] in [s["account_id"] for s in moved_to["stops"]]
    web.screenshot("dispatch-stop-moved")

    # Lock a stop to its collector: the plan is re-evaluated and the stop shows as locked.
    keep = source["stops"][0]
    web.page.locator(f".leaflet-marker-icon[title='{keep['account_id']}']").dispatch_event("click")
    web.page.wait_for_function(
        f"() => document.getElementById('stop-label').textContent.includes('{keep['account_id']}')"
    )
    web.page.check("#lock-stop")
    web.page.click("#apply-stop")
    web.page.wait_for_selector(
        f".leaflet-marker-icon[title='{keep['account_id']}'] .stopnum.locked"
    )
    locked = web.server.get(f"/plans/{plan['id']}", "dispatcher")
    kept = next(
        s for r in locked["routes"] for s in r["stops"] if s["account_id"] == keep["account_id"]
    )
    assert kept["locked"] is True

    # Mid-day: re-optimize today's published plan from now; a new plan job runs to the end.
    web.open(f"/dispatch?date={web.server.today}")
    today_plan = next(
        p
        for p in web.server.get(f"/plans?date={web.server.today}", "dispatcher")
        if p["status"] == "published"
    )
    web.page.select_option("#plan-list", str(today_plan["id"]))
    web.page.click("#open-plan")
    web.page.wait_for_selector("#plan-status[data-status='published']")
    web.page.fill("#time-limit", "2")
    web.page.click("#replan")
    web.page.wait_for_function(
        f"() => {{ const p = window.dispatchBoard.plan(); return p && p.replan_of_id === {today_plan['id']} && p.status === 'done'; }}",
        timeout=120000,
    )
    web.screenshot("dispatch-replanned")
    _no_page_errors(web)


def test_web_dashboard_funnel_equals_the_api_and_exports_csv(web: Any) -> None:
    start, end = _days(web.server.today, -14), _days(web.server.today, 1)
    report = web.server.get(f"/kpi/report?from={start}&to={end}", "manager")
    web.sign_in_as("manager")
    web.open(f"/dashboard?from={start}&to={end}")
    shown = {
        el["measure"]: el["value"]
        for el in web.page.locator(".funnel-value").evaluate_all(
            "els => els.map(e => ({measure: e.dataset.measure, value: e.textContent}))"
        )
    }
    expected = ["attempts", "connections", "contacts", "direct_contacts", "promises"]
    assert list(shown) == expected
    for measure in expected:
        assert (
            int(shown[measure].replace(",", "").replace(".", "").replace("\u202f", ""))
            == (report["total"][measure])
        ), measure
    assert report["total"]["attempts"] > 0
    assert web.page.locator("#scorecards tbody tr").count() == 25
    assert web.page.locator("#rollrate tbody tr").count() >= 1
    # Chart.js (served from node_modules) drew both daily series.
    assert web.page.evaluate("Object.keys(Chart.instances).length") == 2
    assert web.page.locator("#chart-missing").is_hidden()
    assert "Embudo" in web.page.inner_text("body")
    web.screenshot("dashboard-es")

    # Sort the scorecards by attempts (descending first), as a supervisor would.
    cards = web.server.get(f"/kpi/scorecards?from={start}&to={end}", "manager")["scorecards"]
    web.page.click("#scorecards th[data-index='1']")
    first = web.page.locator("#scorecards tbody tr").first.get_attribute("data-collector-id")
    attempts_of = {c["collector_id"]: c["productivity"]["attempts"] for c in cards}
    assert attempts_of[int(first)] == max(attempts_of.values())

    # The funnel of one group: by collector, pick a row.
    by_collector = web.server.get(
        f"/kpi/report?from={start}&to={end}&group_by=collector", "manager"
    )
    web.page.select_option("#group", "collector")
    web.page.click("#filters button[type=submit]")
    web.page.wait_for_function(
        f"() => document.querySelectorAll('#report tbody tr').length === {len(by_collector['rows'])}"
    )
    row = by_collector["rows"][3]
    web.page.locator("#report tbody tr").nth(3).click()
    assert web.page.inner_text("#funnel-group") == row["collector"]
    attempts = web.page.inner_text(".funnel-value[data-measure='attempts']")
    assert int(attempts.replace(",", "")) == row["attempts"]

    with web.page.expect_download() as download_info:
        web.page.click("#report-csv")
    rows = list(csv.reader(io.StringIO(Path(download_info.value.path()).read_text())))
    header, total = rows[0], rows[-1]
    # The download is the table on screen: one line per collector, then the total.
    assert len(rows) == 1 + len(by_collector["rows"]) + 1
    assert int(total[header.index("attempts")]) == report["total"]["attempts"]

    web.page.select_option("#lang", "en")
    web.page.wait_for_selector("body[data-ready='1']")
    web.page.wait_for_function("() => document.body.innerText.includes('Funnel')")
    assert "Attempts" in web.page.inner_text("#funnel")
    web.screenshot("dashboard-en")
    _no_page_errors(web)


def test_web_collector_cannot_see_another_collectors_route(web: Any) -> None:
    collectors = {c["username"]: c["id"] for c in web.server.active_collectors()}
    other = collectors["collector02"]
    web.sign_in_as("collector01")
    web.open(f"/map?collector={other}")
    web.page.wait_for_selector("#route-message:not([hidden])")
    assert "otro cobrador" in web.page.inner_text("#route-message")
    assert web.page.evaluate("window.liveMap.routeStopCount()") == 0
    assert web.page.locator(".leaflet-overlay-pane path").count() == 0
    assert web.page.locator(".cmarker").count() == 0
    assert web.page.locator("#own-only").is_visible()
    web.screenshot("map-collector-denied")
    # Their own day is theirs to see: a second fix makes a track, drawn without any refusal.
    own = web.server.active_collectors()[0]
    assert own["username"] == "collector01"
    web.server.post_fix(own["id"], own["start_lat"] + 0.002, own["start_lon"])
    web.open("/map")
    web.page.wait_for_selector(".leaflet-overlay-pane path", state="attached")
    assert web.page.locator(".leaflet-overlay-pane path").count() == 1
    assert web.page.locator("#route-message").is_hidden()
    web.screenshot("map-collector-own-track")
    # On the dashboard a collector gets their own scorecard only; the portfolio matrix is refused.
    web.open("/dashboard")
    assert web.page.locator("#scorecards tbody tr").count() == 1
    assert web.page.locator("#scorecards tbody tr").get_attribute("data-collector-id") == str(
        own["id"]
    )
    assert web.page.locator("#rollrate-message").is_visible()
    web.screenshot("dashboard-collector")
    # The same refusal straight from the API the page calls.
    assert (
        web.server.api(
            "GET", f"/collectors/{other}/track?date={web.server.today}", "collector01"
        ).status_code
        == 404
    )
    assert (
        web.server.api("GET", f"/plans?date={web.server.today}", "collector01").status_code == 403
    )
    _no_page_errors(web)
