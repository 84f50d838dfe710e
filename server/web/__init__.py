"""The pages people work in: live map, dispatch board, KPI dashboard.

The HTML shells carry no debtor data (only the agency's time zone and, on the dispatch board,
the next day with legal contact hours), so they are served without authentication; their
scripts call the documented /api/v1 endpoints with the bearer token the login page keeps, and
the API decides what each role may see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xstatic.pkg.leaflet
import xstatic.pkg.leaflet_markercluster
from flask import Blueprint, Flask, abort, current_app, render_template, send_from_directory
from flask.typing import ResponseReturnValue

from server.services import planning

REPO_ROOT = Path(__file__).resolve().parents[2]
# Browser libraries come from pinned packages (PyPI xstatic, npm node_modules), never a CDN.
VENDOR_DIRS: dict[str, Path] = {
    "leaflet": Path(xstatic.pkg.leaflet.BASE_DIR),
    "markercluster": Path(xstatic.pkg.leaflet_markercluster.BASE_DIR),
    "chartjs": REPO_ROOT / "node_modules" / "chart.js" / "dist",
}

web = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/web/static",
)


def _page_context() -> dict[str, Any]:
    return {
        "tile_url": current_app.config.get("TILE_URL") or "",
        "tile_attribution": current_app.config.get("TILE_ATTRIBUTION") or "",
        "agency_timezone": current_app.config.get("AGENCY_TIMEZONE", "America/Lima"),
    }


@web.get("/")
def home() -> ResponseReturnValue:
    """Sends each role to its page; the role is only known to the browser's token."""
    return render_template("home.html", **_page_context())


@web.get("/login")
def login() -> ResponseReturnValue:
    return render_template("login.html", **_page_context())


@web.get("/map")
def live_map() -> ResponseReturnValue:
    return render_template("map.html", page="map", **_page_context())


@web.get("/dispatch")
def dispatch() -> ResponseReturnValue:
    return render_template(
        "dispatch.html",
        page="dispatch",
        next_planning_day=planning.next_planning_day().isoformat(),
        **_page_context(),
    )


@web.get("/dashboard")
def dashboard() -> ResponseReturnValue:
    return render_template("dashboard.html", page="dashboard", **_page_context())


@web.get("/web/vendor/<library>/<path:filename>")
def vendor(library: str, filename: str) -> ResponseReturnValue:
    """Leaflet, markercluster and Chart.js files from their installed packages."""
    directory = VENDOR_DIRS.get(library)
    if directory is None or not directory.is_dir():
        abort(404)
    return send_from_directory(directory, filename, max_age=86400)


def register_web(app: Flask) -> None:
    app.register_blueprint(web)
