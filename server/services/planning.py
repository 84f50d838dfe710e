"""Route planning: who visits whom tomorrow, in what order and at what time.

This service turns accounts, collectors and the agency's settings into a day file (the same
documented format ``python -m routing plan-day`` reads), runs ``routing.plan`` in the
background and turns the plan back into routes, ETAs and, once published, assignments the
handhelds pull. Jobs run on a thread pool by default and on RQ when ``REDIS_URL`` is set.
"""

from __future__ import annotations

import logging
import time as clock
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, g
from sqlalchemy import select

from routing.contact_hours import POLICIES, ContactHoursPolicy, custom_policy, visit_windows
from routing.dayfile import VALUE_SCALE, load_day
from routing.evaluate import Evaluation, evaluate
from routing.matrix import DEFAULT_PROFILES, OsrmTableProvider, TravelMode
from routing.model import Route, Solution
from routing.scoring import AccountFacts, RankedVisit, ScoringWeights, rank_candidates
from routing.solver import PlanResult, Progress, SolveParams, explain_dropped, plan
from server import jobs
from server.errors import ProblemError
from server.extensions import db
from server.models import (
    Account,
    Assignment,
    Collector,
    CollectorLocation,
    PromiseInstallment,
    PromiseToPay,
    RoutePlan,
    Visit,
)
from server.models import Payment as PaymentRow
from server.services import audit
from server.services.settings import get_settings, local_date_of

log = logging.getLogger(__name__)

DEFAULT_SERVICE_S = 12 * 60
FIRST_VISIT_SERVICE_S = 15 * 60  # a first visit explains the debt from the start
RECENT_VISITS = 5
DAY_S = 24 * 3600


# -- rules and facts --------------------------------------------------------------------------


def _hhmm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def contact_policy() -> ContactHoursPolicy:
    """The agency's legal contact hours (``custom`` reads the settings' ``contact_hours``)."""
    settings = get_settings()
    if settings.contact_policy in POLICIES:
        return POLICIES[settings.contact_policy]
    custom = settings.contact_hours or {}
    try:
        return custom_policy(
            "custom",
            [(_hhmm(custom["start"]), _hhmm(custom["end"]))],
            custom["weekdays"],
            settings.country_code if custom.get("exclude_holidays", True) else None,
        )
    except (ValueError, TypeError, AttributeError, KeyError) as error:
        raise ProblemError(
            409, "Invalid contact hours", "The agency's custom contact hours are malformed."
        ) from error


def next_planning_day() -> date:
    """The day dispatch plans next: the first day after the agency's today with legal
    contact hours (on a Friday in Peru, Monday)."""
    today = local_date_of(datetime.now(UTC))
    return contact_policy().next_contact_day(today) or today + timedelta(days=1)


def account_facts(accounts: list[Account], day: date) -> dict[int, AccountFacts]:
    """Segmentation facts for each account as of the eve of ``day``."""
    ids = [a.id for a in accounts]
    grace = get_settings().grace_days
    history: dict[int, list[Visit]] = defaultdict(list)
    for chunk in _chunks(ids):
        rows = db.session.execute(
            select(Visit)
            .where(Visit.account_id.in_(chunk), Visit.local_date < day)
            .order_by(Visit.account_id, Visit.checked_in_at.desc())
        ).scalars()
        for row in rows:
            history[row.account_id].append(row)
    due_today: set[int] = set()
    broken_on: dict[int, date] = {}
    last_payment: dict[int, date] = {}
    for chunk in _chunks(ids):
        installments = db.session.execute(
            select(PromiseToPay.account_id, PromiseInstallment.due_date)
            .join(PromiseInstallment, PromiseInstallment.promise_id == PromiseToPay.id)
            .where(
                PromiseToPay.account_id.in_(chunk),
                PromiseInstallment.due_date >= day - timedelta(days=grace + 4),
                PromiseInstallment.due_date <= day,
            )
        ).all()
        payments = db.session.execute(
            select(PaymentRow.account_id, PaymentRow.local_date).where(
                PaymentRow.account_id.in_(chunk), PaymentRow.local_date < day
            )
        ).all()
        for account_id, paid_on in payments:
            last_payment[account_id] = max(paid_on, last_payment.get(account_id, paid_on))
        for account_id, due in installments:
            if due == day:
                due_today.add(account_id)
            elif last_payment.get(account_id, date.min) < due:
                # Unpaid after the grace days: the promise is broken from then on.
                broken = due + timedelta(days=grace)
                if broken < day:
                    broken_on[account_id] = max(broken, broken_on.get(account_id, broken))
    facts = {}
    for account in accounts:
        visits = history.get(account.id, [])
        facts[account.id] = AccountFacts(
            account_id=str(account.id),
            overdue_balance=float(account.overdue_balance or 0),
            days_past_due=account.days_past_due or 0,
            risk_score=0.5 if account.risk_score is None else float(account.risk_score),
            recent_outcomes=tuple(v.disposition or "" for v in visits[:RECENT_VISITS]),
            visit_count=len(visits),
            days_since_last_attempt=(day - visits[0].local_date).days if visits else None,
            promise_due=day if account.id in due_today else None,
            promise_broken_on=broken_on.get(account.id),
        )
    return facts


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _candidate_accounts(filters: dict[str, Any]) -> list[Account]:
    stmt = select(Account).where(
        Account.active.is_(True),
        Account.lat.is_not(None),
        Account.lon.is_not(None),
        Account.overdue_balance > 0,
    )
    if filters.get("zone_id") is not None:
        stmt = stmt.where(Account.zone_id == filters["zone_id"])
    if filters.get("segment"):
        stmt = stmt.where(Account.segment == filters["segment"])
    if filters.get("account_ids"):
        stmt = stmt.where(Account.id.in_(filters["account_ids"]))
    return list(db.session.execute(stmt.order_by(Account.id)).scalars())


def ranking(day: date, filters: dict[str, Any]) -> list[tuple[RankedVisit, Account]]:
    """Accounts by visit priority for ``day``, each with its explanation."""
    accounts = _candidate_accounts(filters)
    by_id = {a.id: a for a in accounts}
    ranked = rank_candidates(account_facts(accounts, day).values(), day, ScoringWeights())
    return [(r, by_id[int(r.score.account_id)]) for r in ranked]


def candidates(day: date, filters: dict[str, Any]) -> list[dict[str, Any]]:
    """The priority ranking as the API shows it (``why this visit, why this rank``)."""
    limit = int(filters.get("limit") or 50)
    result = []
    for ranked, account in ranking(day, filters)[:limit]:
        score = ranked.score
        result.append(
            {
                "rank": ranked.rank,
                "account_id": account.id,
                "external_id": account.external_id,
                "debtor_name": account.debtor_name,
                "district": account.district,
                "value": score.value,
                "required": score.required,
                "required_because": score.required_because,
                "why": ranked.why,
                "reasons": [
                    {"factor": r.factor, "multiplier": r.multiplier, "detail": r.detail}
                    for r in score.reasons
                ],
            }
        )
    return result


# -- the day file -----------------------------------------------------------------------------


def _preferred_windows(account: Account, day: date) -> list[tuple[int, int]] | None:
    windows = []
    for entry in account.preferred_windows or []:
        try:
            if day.weekday() in entry.get("days", range(7)):
                windows.append((_hhmm(entry["start"]), _hhmm(entry["end"])))
        except (KeyError, ValueError, TypeError, AttributeError):
            continue  # an unreadable preference is no preference
    return sorted(windows) or None


def _collector_entry(collector: Collector) -> dict[str, Any]:
    """A collector in the day file. The stored break is the span the whole break must fit in;
    the planner wants the window its start may fall in, so the duration comes off the end."""
    mode = (
        TravelMode(collector.travel_mode)
        if collector.travel_mode in {m.value for m in TravelMode}
        else TravelMode.MOTORBIKE
    )
    profile = DEFAULT_PROFILES[mode]
    shift_start = collector.shift_start_min * 60
    shift_end = max(shift_start, collector.shift_end_min * 60)
    lunch = None
    if collector.break_start_min is not None and collector.break_end_min is not None:
        duration = collector.break_duration_min * 60
        window = (collector.break_start_min * 60, collector.break_end_min * 60 - duration)
        if shift_start <= window[0] <= window[1] and window[1] + duration <= shift_end:
            lunch = {"window": list(window), "duration_s": duration}
    return {
        "id": str(collector.id),
        "start": [collector.start_lat, collector.start_lon],
        "end": [collector.end_lat, collector.end_lon],
        "shift": [shift_start, shift_end],
        "speed_kmh": profile.speed_kmh,
        "circuity": profile.circuity,
        "max_visits": collector.max_visits_per_day,
        "break": lunch,
    }


def build_day(
    day: date,
    collectors: list[Collector],
    chosen: list[tuple[RankedVisit, Account]],
    respect_zones: bool = True,
    locks: dict[int, int] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The day file for the chosen accounts, and the accounts that cannot be visited at all."""
    policy = contact_policy()
    legal = policy.windows_on(day)
    closed = policy.reason_closed(day)
    locks = locks or {}
    entries = [_collector_entry(c) for c in collectors]
    envelope = (
        min((e["shift"][0] for e in entries), default=0),
        max((e["shift"][1] for e in entries), default=0),
    )
    by_zone: dict[int, list[str]] = defaultdict(list)
    for collector in collectors:
        for zone in collector.zones:
            by_zone[zone.id].append(str(collector.id))
    visits = []
    blocked: list[dict[str, Any]] = []
    for ranked, account in chosen:
        first = any(r.factor == "never_visited" for r in ranked.score.reasons)
        service = FIRST_VISIT_SERVICE_S if first else DEFAULT_SERVICE_S
        windows = visit_windows(_preferred_windows(account, day), legal, envelope, service)
        if not windows:
            # Kept out of the solve: no collector may knock on this door on this day.
            blocked.append(
                {
                    "account_id": account.id,
                    "value": ranked.score.value,
                    "required": ranked.score.required,
                    "reason": closed
                    or "no contact window: outside legal hours, preferred windows or shifts",
                }
            )
            continue
        allowed: list[str] = []
        if account.id in locks:
            allowed = [str(locks[account.id])]
        elif respect_zones and account.zone_id in by_zone:
            allowed = by_zone[account.zone_id]
        visits.append(
            {
                "id": str(account.id),
                "lat": account.lat,
                "lon": account.lon,
                "service_s": service,
                "value": ranked.score.value,
                "required": ranked.score.required or account.id in locks,
                "windows": [list(w) for w in windows],
                "allowed_collectors": allowed,
                "locked": account.id in locks,
                "why": ranked.why,
            }
        )
    return {"travel": {"circuity": 1.0}, "visits": visits, "collectors": entries}, blocked


# -- jobs -------------------------------------------------------------------------------------


def submit_plan(params: dict[str, Any]) -> RoutePlan:
    """Queue a planning job; the answer comes back at once with the plan's id."""
    route_plan = RoutePlan(
        date=params["date"], status="queued", params=_jsonable(params), progress=0.0
    )
    user = g.get("current_user")
    route_plan.created_by_id = user.id if user is not None else None
    db.session.add(route_plan)
    db.session.flush()
    audit.record("create", "route_plan", route_plan.id, date=params["date"].isoformat())
    db.session.commit()
    _enqueue(route_plan.id)
    return route_plan


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in params.items()}


def _enqueue(plan_id: int) -> None:
    # One plan at a time per process (or RQ worker): each solve already uses the cores it is given.
    jobs.enqueue("planning", execute_plan, plan_id)


def execute_plan(plan_id: int) -> RoutePlan:
    """Run one queued plan to the end, recording progress and the result (or the failure)."""
    route_plan = db.session.get(RoutePlan, plan_id)
    if route_plan is None:
        raise ProblemError(404, "Plan not found")
    route_plan.status = "running"
    db.session.commit()
    try:
        day_file, blocked = _prepared_day(route_plan)
        start = _solution_from(route_plan.params.get("start_routes"))
        result = _solve(day_file, route_plan, start)
        route_plan.result = render(
            route_plan.date,
            day_file,
            result.evaluation,
            result.dropped_reasons,
            result.runtime_s,
            blocked,
        )
        route_plan.best_value = result.evaluation.value / VALUE_SCALE
        route_plan.progress = 100.0
        route_plan.status = "done"
    except ProblemError as error:
        db.session.rollback()
        route_plan = get_plan(plan_id)
        route_plan.status, route_plan.error = "failed", error.detail or error.title
    except Exception:
        log.exception("planning job %s failed", plan_id)
        db.session.rollback()
        route_plan = get_plan(plan_id)
        route_plan.status, route_plan.error = "failed", "internal error while planning"
    db.session.commit()
    return route_plan


def _prepared_day(route_plan: RoutePlan) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    params = route_plan.params
    if "day" in params:
        return params["day"], list(params.get("blocked", []))
    collectors = _collectors(params.get("collector_ids"))
    ranked = ranking(route_plan.date, params)
    capacity = sum(c.max_visits_per_day for c in collectors)
    top = int(params.get("top") or max(1, round(capacity * 1.3)))
    chosen = [item for item in ranked if item[0].score.required] + [
        item for item in ranked if not item[0].score.required
    ][: max(0, top - sum(1 for r, _ in ranked if r.score.required))]
    locks = {int(k): int(v) for k, v in (params.get("locks") or {}).items()}
    return build_day(
        route_plan.date, collectors, chosen, bool(params.get("respect_zones", True)), locks
    )


def _collectors(ids: list[int] | None) -> list[Collector]:
    stmt = select(Collector).where(Collector.active.is_(True)).order_by(Collector.id)
    if ids:
        stmt = stmt.where(Collector.id.in_(ids))
    collectors = list(db.session.execute(stmt).scalars())
    if not collectors:
        raise ProblemError(422, "No collectors", "There is no active collector to plan for.")
    return collectors


def _solution_from(routes: dict[str, list[str]] | None) -> Solution | None:
    if not routes:
        return None
    return Solution(tuple(Route(c, tuple(v)) for c, v in routes.items()))


def _osrm() -> OsrmTableProvider | None:
    url = current_app.config.get("OSRM_URL")
    return OsrmTableProvider(url) if url else None


def _solve(day_file: dict[str, Any], route_plan: RoutePlan, start: Solution | None) -> PlanResult:
    data = load_day(day_file, _osrm())
    limit = float(route_plan.params.get("time_limit_s", 10))
    params = SolveParams(
        time_limit_s=limit,
        workers=int(current_app.config.get("PLANNING_WORKERS", 2)),
        balance_weight=1,
    )
    last = [0.0]

    def on_progress(event: Progress) -> None:
        now = clock.monotonic()
        if now - last[0] < 1.0 and event.phase != "done":
            return
        last[0] = now
        route_plan.progress = min(99.0, event.percent)
        route_plan.best_value = event.value / VALUE_SCALE
        db.session.commit()

    return plan(data, params, progress=on_progress, start=start)


# -- rendering --------------------------------------------------------------------------------


def _instant(day: date, seconds: int, tz: ZoneInfo) -> str:
    moment = datetime.combine(day, time(0), tzinfo=tz) + timedelta(seconds=seconds)
    return moment.astimezone(UTC).isoformat()


def render(
    day: date,
    day_file: dict[str, Any],
    evaluation: Evaluation,
    reasons: dict[str, str],
    runtime_s: float,
    blocked: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The plan as the API shows it; keeps the day file so edits can be re-evaluated."""
    tz = ZoneInfo(get_settings().timezone)
    visits = {v["id"]: v for v in day_file["visits"]}
    collectors = {c["id"]: c for c in day_file["collectors"]}
    routes = []
    for route in evaluation.routes:
        entry = collectors[route.collector_id]
        stops = []
        for k, stop in enumerate(route.stops, start=1):
            visit = visits[stop.visit_id]
            window = next(
                (w for w in visit["windows"] if w[0] <= stop.start_s <= w[1]),
                visit["windows"][0] if visit["windows"] else [stop.start_s, stop.start_s],
            )
            stops.append(
                {
                    "sequence": k,
                    "account_id": int(stop.visit_id),
                    "lat": visit["lat"],
                    "lon": visit["lon"],
                    "arrival": _instant(day, stop.arrival_s, tz),
                    "eta": _instant(day, stop.start_s, tz),
                    "departure": _instant(day, stop.departure_s, tz),
                    "window_start": _instant(day, window[0], tz),
                    "window_end": _instant(day, window[1], tz),
                    "value": visit["value"],
                    "required": visit["required"],
                    "locked": bool(visit.get("locked")),
                    "why": visit.get("why", ""),
                }
            )
        # Leave as late as still makes the first stop on time: waiting at the first door (a
        # shift opening before legal hours, say) is neither work nor the route's hours.
        departure_s = route.start_s
        if route.stops:
            departure_s += route.stops[0].start_s - route.stops[0].arrival_s
        hours = (route.end_s - departure_s) / 3600 if route.stops else 0.0
        routes.append(
            {
                "collector_id": int(route.collector_id),
                "start": entry["start"],
                "end": entry["end"],
                "departure": _instant(day, departure_s, tz),
                "return": _instant(day, route.end_s, tz) if route.stops else None,
                "break_start": None
                if route.break_start_s is None
                else _instant(day, route.break_start_s, tz),
                "feasible": route.feasible,
                "stops": stops,
                "totals": {
                    "visits": len(stops),
                    "km": round(route.distance_m / 1000, 2),
                    "hours": round(hours, 2),
                    "travel_hours": round(route.travel_s / 3600, 2),
                    "value": round(route.value / VALUE_SCALE, 2),
                },
            }
        )
    unassigned = [
        {
            "account_id": int(v),
            "value": visits[v]["value"],
            "required": visits[v]["required"],
            "reason": reasons.get(v, "not selected"),
        }
        for v in evaluation.dropped
    ] + list(blocked or [])
    total_value = sum(v["value"] for v in day_file["visits"])
    # A must-visit that fits nowhere is a warning (listed with its reason), not a broken route:
    # the routes themselves can still be walked and published.
    missed = [v for v in evaluation.violations if v.startswith("required visit")]
    broken = [v for v in evaluation.violations if v not in missed]
    return {
        "summary": {
            "feasible": not broken,
            "violations": broken,
            "required_unserved": [int(v) for v in evaluation.dropped if visits[v]["required"]],
            "visits_planned": sum(len(r["stops"]) for r in routes),
            "visits_unassigned": len(unassigned),
            "value": round(evaluation.value / VALUE_SCALE, 2),
            "value_share": round(evaluation.value / VALUE_SCALE / total_value, 4)
            if total_value
            else None,
            "km": round(evaluation.distance_m / 1000, 2),
            "travel_hours": round(evaluation.travel_s / 3600, 2),
            "collectors": len(routes),
            "runtime_s": round(runtime_s, 2),
        },
        "routes": routes,
        "unassigned": unassigned,
        "blocked": list(blocked or []),
        "day": day_file,
    }


def get_plan(plan_id: int) -> RoutePlan:
    route_plan = db.session.get(RoutePlan, plan_id)
    if route_plan is None:
        raise ProblemError(404, "Plan not found", f"There is no plan {plan_id}.")
    return route_plan


def list_plans(day: date | None) -> list[RoutePlan]:
    stmt = select(RoutePlan).order_by(RoutePlan.id.desc()).limit(100)
    if day is not None:
        stmt = stmt.where(RoutePlan.date == day)
    return list(db.session.execute(stmt).scalars())


def _finished(plan_id: int) -> RoutePlan:
    route_plan = get_plan(plan_id)
    if route_plan.status not in {"done", "published"} or not route_plan.result:
        raise ProblemError(409, "Plan not ready", f"The plan is {route_plan.status}.")
    return route_plan


def _result(route_plan: RoutePlan) -> dict[str, Any]:
    if route_plan.result is None:
        raise ProblemError(409, "Plan not ready", f"The plan is {route_plan.status}.")
    return route_plan.result


def _routes_of(result: dict[str, Any]) -> dict[str, list[str]]:
    return {
        str(r["collector_id"]): [str(s["account_id"]) for s in r["stops"]] for r in result["routes"]
    }


# -- dispatcher edits -------------------------------------------------------------------------


def update_stop(plan_id: int, account_id: int, changes: dict[str, Any]) -> RoutePlan:
    """Move a stop to a collector (and position) and/or lock it, then re-evaluate the plan.

    No solve: the dispatcher's order is kept and checked by the independent evaluator, which
    recomputes ETAs and reports any broken window or shift in the plan's summary.
    """
    route_plan = _finished(plan_id)
    result = dict(_result(route_plan))
    day_file = result["day"]
    visit_id = str(account_id)
    visit = next((v for v in day_file["visits"] if v["id"] == visit_id), None)
    if visit is None:
        raise ProblemError(404, "Stop not found", f"Account {account_id} is not in this plan.")
    routes = _routes_of(result)
    current = next((c for c, stops in routes.items() if visit_id in stops), None)
    target = current
    if changes.get("collector_id") is not None:
        target = str(changes["collector_id"])
        if target not in routes:
            raise ProblemError(
                422,
                "Unknown collector",
                "The collector is not part of this plan.",
                errors={"collector_id": ["not in this plan"]},
            )
    if changes.get("unassign"):
        target = None
    if current is not None:
        position = routes[current].index(visit_id)
        routes[current].remove(visit_id)
    else:
        position = None
    if target is not None:
        wanted = changes.get("position")
        if wanted is None:
            wanted = (
                position + 1
                if target == current and position is not None
                else len(routes[target]) + 1
            )
        routes[target].insert(max(0, min(len(routes[target]), int(wanted) - 1)), visit_id)
    if "locked" in changes:
        visit["locked"] = bool(changes["locked"])
    if target is None:
        # The dispatcher's call overrides "must visit": the stop leaves this plan on purpose.
        visit["locked"] = False
        visit["required"] = False
    if visit.get("locked") and target is not None:
        visit["allowed_collectors"] = [target]
        visit["required"] = True
    day_file = {
        **day_file,
        "visits": [visit if v["id"] == visit_id else v for v in day_file["visits"]],
    }
    data = load_day(day_file, _osrm())
    solution = Solution(tuple(Route(c, tuple(v)) for c, v in routes.items()))
    evaluation = evaluate(data, solution)
    previous = {u["account_id"]: u["reason"] for u in result["unassigned"]}
    blocked_ids = {b["account_id"] for b in result.get("blocked", [])}
    previous = {k: v for k, v in previous.items() if k not in blocked_ids}
    reasons = {str(k): v for k, v in previous.items()}
    reasons.update({k: v for k, v in explain_dropped(data, solution).items() if k not in reasons})
    if target is None:
        reasons[visit_id] = "removed by the dispatcher"
    route_plan.result = render(
        route_plan.date,
        day_file,
        evaluation,
        reasons,
        result["summary"]["runtime_s"],
        result.get("blocked"),
    )
    route_plan.best_value = evaluation.value / VALUE_SCALE
    audit.record(
        "update",
        "route_plan",
        plan_id,
        account_id=account_id,
        **{k: v for k, v in changes.items() if v is not None},
    )
    db.session.commit()
    return route_plan


# -- publishing and re-planning ---------------------------------------------------------------


def publish_plan(plan_id: int) -> RoutePlan:
    """Turn the routes into the day's assignments, which the handhelds pull on their next sync.

    An account that moved to another collector leaves a ``removed`` tombstone on the old
    assignment so the previous device drops it.
    """
    route_plan = _finished(plan_id)
    if not _result(route_plan)["summary"]["feasible"]:
        raise ProblemError(
            409, "Plan is not feasible", "Fix the reported violations before publishing."
        )
    day = route_plan.date
    wanted: dict[int, tuple[int, dict[str, Any]]] = {}
    for route in _result(route_plan)["routes"]:
        for stop in route["stops"]:
            wanted[stop["account_id"]] = (route["collector_id"], stop)
    # This plan's own earlier publication may hold stops the dispatcher has since taken out.
    for stale in db.session.execute(
        select(Assignment).where(
            Assignment.plan_id == route_plan.id,
            Assignment.account_id.not_in(list(wanted) or [-1]),
            Assignment.status == "active",
        )
    ).scalars():
        stale.status = "removed"
    existing = db.session.execute(
        select(Assignment).where(
            Assignment.date == day, Assignment.account_id.in_(list(wanted) or [-1])
        )
    ).scalars()
    kept: set[tuple[int, int]] = set()
    for assignment in existing:
        collector_id, stop = wanted[assignment.account_id]
        if (
            assignment.collector_id == collector_id
            and (assignment.account_id, collector_id) not in kept
        ):
            _fill(assignment, route_plan.id, stop)
            assignment.status = "done" if assignment.status == "done" else "active"
            kept.add((assignment.account_id, collector_id))
        elif assignment.status != "done":
            assignment.status = "removed"
    for account_id, (collector_id, stop) in wanted.items():
        if (account_id, collector_id) not in kept:
            assignment = Assignment(
                account_id=account_id, collector_id=collector_id, date=day, status="active"
            )
            _fill(assignment, route_plan.id, stop)
            db.session.add(assignment)
    route_plan.status = "published"
    route_plan.published_at = datetime.now(UTC)
    audit.record("publish", "route_plan", plan_id, stops=len(wanted))
    db.session.commit()
    return route_plan


def _fill(assignment: Assignment, plan_id: int, stop: dict[str, Any]) -> None:
    assignment.plan_id = plan_id
    assignment.sequence = stop["sequence"]
    assignment.eta = datetime.fromisoformat(stop["eta"])
    assignment.window_start = datetime.fromisoformat(stop["window_start"])
    assignment.window_end = datetime.fromisoformat(stop["window_end"])
    assignment.locked = bool(stop["locked"])


def replan(plan_id: int, at: datetime | None = None, time_limit_s: float = 10.0) -> RoutePlan:
    """Re-plan the rest of the day from now: done visits stay done, collectors start where
    they were last seen, the remaining stops are re-optimised (warm-started from the plan)."""
    source = _finished(plan_id)
    tz = ZoneInfo(get_settings().timezone)
    now = (at or datetime.now(UTC)).astimezone(tz)
    if now.date() != source.date:
        raise ProblemError(
            409, "Not the plan's day", "Mid-day re-planning works on the plan's own day."
        )
    now_s = now.hour * 3600 + now.minute * 60 + now.second
    day_file = _result(source)["day"]
    account_ids = [int(v["id"]) for v in day_file["visits"]]
    done = {
        str(a)
        for a in db.session.execute(
            select(Visit.account_id).where(
                Visit.local_date == source.date, Visit.account_id.in_(account_ids or [-1])
            )
        ).scalars()
    }
    positions = {
        str(row.collector_id): [row.lat, row.lon]
        for row in db.session.execute(select(CollectorLocation)).scalars()
        if row.fix_time.astimezone(tz).date() == source.date
    }
    collectors = []
    for entry in day_file["collectors"]:
        shift = [max(entry["shift"][0], now_s), max(entry["shift"][1], now_s)]
        lunch = entry["break"]
        if lunch and (lunch["window"][1] < shift[0]):
            lunch = None  # the break window is over: it was taken (or skipped) already
        elif lunch:
            window = [max(lunch["window"][0], shift[0]), lunch["window"][1]]
            lunch = (
                {"window": window, "duration_s": lunch["duration_s"]}
                if window[1] + lunch["duration_s"] <= shift[1]
                else None
            )
        collectors.append(
            {
                **entry,
                "start": positions.get(entry["id"], entry["start"]),
                "shift": shift,
                "break": lunch,
            }
        )
    visits = [v for v in day_file["visits"] if v["id"] not in done]
    remaining = {
        c: [v for v in stops if v not in done] for c, stops in _routes_of(_result(source)).items()
    }
    new_day = {**day_file, "visits": visits, "collectors": collectors}
    params: dict[str, Any] = {
        "date": source.date.isoformat(),
        "time_limit_s": time_limit_s,
        "day": new_day,
        "start_routes": remaining,
        "replan_at": now.isoformat(),
        "done_account_ids": sorted(int(a) for a in done),
        "blocked": _result(source).get("blocked", []),
    }
    route_plan = RoutePlan(
        date=source.date, status="queued", params=params, replan_of_id=source.id, progress=0.0
    )
    user = g.get("current_user")
    route_plan.created_by_id = user.id if user is not None else None
    db.session.add(route_plan)
    db.session.flush()
    audit.record("replan", "route_plan", route_plan.id, source=source.id)
    db.session.commit()
    _enqueue(route_plan.id)
    return route_plan


def plan_geojson(plan_id: int) -> dict[str, Any]:
    """Routes as GeoJSON: one LineString per collector and one Point per stop (lon, lat)."""
    route_plan = _finished(plan_id)
    features: list[dict[str, Any]] = []
    for route in _result(route_plan)["routes"]:
        path = [route["start"], *([s["lat"], s["lon"]] for s in route["stops"]), route["end"]]
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[lon, lat] for lat, lon in path],
                },
                "properties": {
                    "kind": "route",
                    "collector_id": route["collector_id"],
                    **route["totals"],
                },
            }
        )
        for stop in route["stops"]:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [stop["lon"], stop["lat"]]},
                    "properties": {
                        "kind": "stop",
                        "collector_id": route["collector_id"],
                        "account_id": stop["account_id"],
                        "sequence": stop["sequence"],
                        "eta": stop["eta"],
                        "locked": stop["locked"],
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features, "properties": {"plan_id": plan_id}}


def plan_and_publish(
    day: date, time_limit_s: float = 5.0, collector_ids: list[int] | None = None
) -> str:
    """Plan ``day`` for all active collectors and publish it, synchronously (demo seed)."""
    route_plan = RoutePlan(
        date=day,
        status="queued",
        params={
            "date": day.isoformat(),
            "time_limit_s": time_limit_s,
            "collector_ids": collector_ids,
        },
        progress=0.0,
    )
    db.session.add(route_plan)
    db.session.commit()
    route_plan = execute_plan(route_plan.id)
    if route_plan.status != "done":
        return f"plan {route_plan.id} {route_plan.status}: {route_plan.error}"
    summary = _result(route_plan)["summary"]
    if not summary["feasible"]:
        return f"plan {route_plan.id} not published: {'; '.join(summary['violations'][:3])}"
    publish_plan(route_plan.id)
    return (
        f"plan {route_plan.id} published: {summary['visits_planned']} stops for "
        f"{summary['collectors']} collectors, {summary['km']} km"
    )


def record_routes(day: date, routes: dict[int, list[int]], note: str) -> RoutePlan:
    """Keep routes made outside the planner (a paper plan, the demo's history) as a published
    plan, evaluated like any other so that plan completion and ETA drift can be reported.

    The caller links the day's assignments to the returned plan.
    """
    collectors = _collectors(list(routes))
    ids = [account_id for stops in routes.values() for account_id in stops]
    accounts = {
        a.id: a for a in db.session.execute(select(Account).where(Account.id.in_(ids))).scalars()
    }
    day_file: dict[str, Any] = {
        "travel": {"circuity": 1.0},
        "visits": [
            {
                "id": str(a.id),
                "lat": a.lat,
                "lon": a.lon,
                "service_s": 720,
                "value": 0.0,
                "required": False,
                "windows": [],
                "why": note,
            }
            for a in accounts.values()
        ],
        "collectors": [_collector_entry(c) for c in collectors],
    }
    solution = Solution(
        tuple(Route(str(c), tuple(str(a) for a in stops)) for c, stops in routes.items())
    )
    evaluation = evaluate(load_day(day_file), solution)
    route_plan = RoutePlan(
        date=day,
        status="published",
        params={"date": day.isoformat(), "source": note},
        progress=100.0,
        result=render(day, day_file, evaluation, {}, 0.0),
        published_at=datetime.now(UTC),
    )
    db.session.add(route_plan)
    db.session.flush()
    return route_plan
