import json
import subprocess
import sys
from pathlib import Path

from routing.cli import main
from routing.synthetic import city_day

SOLOMON = Path(__file__).resolve().parents[3] / "shared" / "bench" / "instances" / "solomon"


def test_plan_day_writes_the_documented_plan(tmp_path: Path) -> None:
    day = city_day(visits=25, collectors=2, windowed=8, lunch=True)
    day["visits"][0]["required"] = True
    source, out = tmp_path / "day.json", tmp_path / "plan.json"
    source.write_text(json.dumps(day))
    assert (
        main(
            [
                "plan-day",
                str(source),
                "--time-limit",
                "1",
                "--out",
                str(out),
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert set(result) >= {"routes", "dropped", "value", "travel_s"}
    assert set(result["routes"]) == {"c000", "c001"}
    stops = [stop for route in result["routes"].values() for stop in route]
    assert all(set(stop) == {"visit", "arrival_s", "start_s"} for stop in stops)
    assert all(stop["arrival_s"] <= stop["start_s"] for stop in stops)
    assert "v00000" in {stop["visit"] for stop in stops}
    assert len(stops) + len(result["dropped"]) == 25
    assert all(d["reason"] for d in result["dropped"])


def test_plan_day_refuses_a_malformed_file(tmp_path: Path) -> None:
    source = tmp_path / "day.json"
    source.write_text(json.dumps({"visits": [{"id": "x"}], "collectors": []}))
    assert main(["plan-day", str(source), "--out", str(tmp_path / "p.json"), "--quiet"]) == 2


def test_solve_a_solomon_instance(tmp_path: Path) -> None:
    out = tmp_path / "solution.json"
    args = ["solve", str(SOLOMON / "C101.txt"), "--time-limit", "1", "--vehicles", "10"]
    assert main([*args, "--out", str(out), "--workers", "1", "--quiet"]) == 0
    result = json.loads(out.read_text())
    assert result["vehicles"] == len(result["routes"]) <= 10
    assert sorted(c for route in result["routes"] for c in route) == list(range(1, 101))
    assert 828.9 < result["distance"] < 1300  # optimum 828.94; one loaded second of search


def test_the_routing_package_does_not_import_the_web_stack() -> None:
    code = (
        "import sys, routing, routing.cli, routing.scoring, routing.zones, routing.contact_hours\n"
        "bad = {'flask', 'sqlalchemy', 'marshmallow', 'server'} & set(sys.modules)\n"
        "assert not bad, bad"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2]
    )
