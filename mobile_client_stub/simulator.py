"""A collector's day on simulated time: walk the route, knock, record, sync when there is signal.

The simulated day is placed so that it ends no later than the real present: a capture's
device time must never lie in the future, or the server would rightly flag it. Randomness
is seeded per device and stop, so a stop redone after a kill produces the same captures
and nothing is recorded twice.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_UP, Decimal
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from mobile_client_stub.engine import Backoff, SyncEngine, TransientError
from mobile_client_stub.photos import make_jpeg, make_png
from mobile_client_stub.store import LocalStore

# Share of attempts ending in each disposition: a plausible door-to-door funnel.
FUNNEL: tuple[tuple[str, float], ...] = (
    ("address_not_found", 0.05),
    ("no_answer", 0.24),
    ("access_denied", 0.05),
    ("third_party_message", 0.14),
    ("debtor_moved", 0.03),
    ("debtor_deceased", 0.01),
    ("refused_to_pay", 0.08),
    ("dispute", 0.04),
    ("negotiating", 0.10),
    ("already_paid", 0.04),
    ("promise_to_pay", 0.14),
    ("payment_collected", 0.08),
)
SPEED_M_S = {"walk": 1.3, "motorbike": 7.0, "car": 6.0}
DETOUR = 1.35
MAX_LEG_S = 25 * 60
"""Longer legs are taken by bus or taxi; nobody walks an hour between two doors."""
FIX_EVERY_S = 60
SYNC_EVERY = timedelta(minutes=30)
"""How often a phone with signal syncs in the background while the collector works."""
CENT = Decimal("0.01")


@dataclass(frozen=True)
class SimConfig:
    seed: int
    speedup: float = 5000.0
    offline_every_min: float = 0.0
    offline_for_min: float = 0.0
    max_wait_s: float = 120.0
    photo_kb: int = 40


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(x, y)) + 360) % 360


class Simulator:
    """Runs one handheld through its day against a live server."""

    def __init__(
        self, engine: SyncEngine, store: LocalStore, config: SimConfig, log: TextIO = sys.stderr
    ) -> None:
        self.engine = engine
        self.store = store
        self.config = config
        self.log = log
        self.backoff = Backoff(random.Random(config.seed))
        self.next_attempt = 0.0

    # -- time and connectivity ----------------------------------------------------------
    @property
    def clock(self) -> datetime:
        return datetime.fromisoformat(self.store.get("sim_clock") or "")

    def advance(self, seconds: float) -> None:
        """Let simulated time pass, sleeping the scaled real time; never beyond the present."""
        later = min(self.clock + timedelta(seconds=seconds), datetime.now(UTC))
        self.store.put("sim_clock", later.isoformat())
        time.sleep(seconds / self.config.speedup)

    def online(self) -> bool:
        every, span = self.config.offline_every_min, self.config.offline_for_min
        if every <= 0 or span <= 0:
            return True
        start = datetime.fromisoformat(self.store.get("sim_start") or "")
        minutes = (self.clock - start).total_seconds() / 60
        return minutes < every or (minutes % every) >= span

    def try_sync(self) -> None:
        """One sync attempt if the backoff allows it; failures only push the next attempt out."""
        if time.monotonic() < self.next_attempt:
            return
        try:
            self.engine.sync_once()
        except TransientError as exc:
            delay = self.backoff.next_delay()
            self.next_attempt = time.monotonic() + delay
            print(f"sync failed ({exc}); retrying in {delay:.2f}s", file=self.log)
        else:
            self.backoff.reset()

    def initial_pull(self) -> bool:
        deadline = time.monotonic() + self.config.max_wait_s
        while True:
            try:
                self.engine.pull()
                return True
            except TransientError as exc:
                if time.monotonic() > deadline:
                    return False
                delay = self.backoff.next_delay()
                print(f"pull failed ({exc}); retrying in {delay:.2f}s", file=self.log)
                time.sleep(delay)

    def place_day(self) -> None:
        """Start the day at the shift start, or early enough that it ends before now."""
        stops = self.store.stops_to_walk()
        agency = json.loads(self.store.get("agency") or "{}")
        collector = json.loads(self.store.get("collector") or "{}")
        tz = ZoneInfo(agency.get("timezone", "America/Lima"))
        route = json.loads(self.store.get("route") or "{}")
        day = date.fromisoformat(route["date"]) if route.get("date") else datetime.now(tz).date()
        shift_min = int(collector.get("shift_start_min", 8 * 60))
        start = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(minutes=shift_min)
        estimate = timedelta(seconds=(MAX_LEG_S + 15 * 60) * max(1, len(stops)))
        start = min(start.astimezone(UTC), datetime.now(UTC) - estimate)
        first = stops[0] if stops else None
        account = self.store.account(first["account_id"]) if first else None
        lat = collector.get("start_lat") or (account or {}).get("lat") or -12.0464
        lon = collector.get("start_lon") or (account or {}).get("lon") or -77.0428
        with self.store.transaction():
            self.store.put("sim_start", start.isoformat())
            self.store.put("sim_clock", start.isoformat())
            self.store.put("here", json.dumps([lat, lon]))
            self.store.put("battery", "100")

    # -- the day -------------------------------------------------------------------------
    def run(self) -> int:
        if self.store.get("sim_start") is None:
            if not self.initial_pull():
                return 3
            if not self.store.stops_to_walk():
                print("no stops to walk today: is a route published?", file=self.log)
            self.place_day()
        while stops := self.store.stops_to_walk():
            stop = stops[0]
            account = self.store.account(stop["account_id"])
            if account is None or account.get("lat") is None:
                self.store.mark_walked(stop["stop_id"])
                continue
            self.walk_to(account)
            self.visit(stop, account)
            last = self.store.get("last_sync_attempt")
            due = last is None or self.clock - datetime.fromisoformat(last) >= SYNC_EVERY
            if due and self.online():
                self.store.put("last_sync_attempt", self.clock.isoformat())
                self.try_sync()
        return self.drain()

    def drain(self) -> int:
        """Keep syncing until nothing is pending; give up after ``max_wait_s`` of failures."""
        failing_since: float | None = None
        while True:
            try:
                self.engine.sync_once()
            except TransientError as exc:
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > self.config.max_wait_s:
                    print(f"giving up after {self.config.max_wait_s}s: {exc}", file=self.log)
                    return 3
                time.sleep(self.backoff.next_delay())
                continue
            failing_since = None
            self.backoff.reset()
            if self.engine.is_idle():
                return 0

    def walk_to(self, account: dict[str, Any]) -> None:
        """Move towards the account, leaving a position fix every minute on the way."""
        lat0, lon0 = json.loads(self.store.get("here") or "[0, 0]")
        lat1, lon1 = float(account["lat"]), float(account["lon"])
        collector = json.loads(self.store.get("collector") or "{}")
        speed = SPEED_M_S.get(collector.get("travel_mode", "walk"), 1.3)
        distance = haversine_m(lat0, lon0, lat1, lon1) * DETOUR
        travel_s = min(MAX_LEG_S, max(60.0, distance / speed))
        heading = bearing_deg(lat0, lon0, lat1, lon1)
        steps = max(1, int(travel_s // FIX_EVERY_S))
        for k in range(1, steps + 1):
            self.advance(travel_s / steps)
            f = k / steps
            battery = max(5.0, float(self.store.get("battery") or 100) - 0.08)
            self.store.put("battery", f"{battery:.2f}")
            self.store.add_position(
                {
                    "fix_time": self.clock.isoformat(),
                    "lat": round(lat0 + (lat1 - lat0) * f, 6),
                    "lon": round(lon0 + (lon1 - lon0) * f, 6),
                    "accuracy_m": 8.0,
                    "speed_mps": round(speed, 2),
                    "heading_deg": round(heading, 1),
                    "altitude_m": 120.0,
                    "battery_pct": round(battery, 1),
                    "provider": "gps",
                    "mock": False,
                }
            )
        self.store.put("here", json.dumps([lat1, lon1]))

    def visit(self, stop: dict[str, Any], account: dict[str, Any]) -> None:
        """One attempt at the door, recorded as one local transaction."""
        rng = random.Random(f"{self.config.seed}:{self.store.get('device_id')}:{stop['stop_id']}")

        def new_uuid() -> str:
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))

        agency = json.loads(self.store.get("agency") or "{}")
        tz = ZoneInfo(agency.get("timezone", "America/Lima"))
        names, weights = zip(*FUNNEL, strict=True)
        disposition = rng.choices(names, weights)[0]
        dwell = (
            rng.uniform(2, 5)
            if disposition in ("no_answer", "address_not_found")
            else rng.uniform(8, 20)
        )
        arrived = self.clock
        left = min(arrived + timedelta(minutes=dwell), datetime.now(UTC))
        local_day = arrived.astimezone(tz).date()
        visit_uuid = new_uuid()
        far = rng.random() < 0.05
        jitter = 0.004 if far else 0.00015
        lat = float(account["lat"]) + rng.uniform(-jitter, jitter)
        lon = float(account["lon"]) + rng.uniform(-jitter, jitter)
        queue: list[tuple[str, dict[str, Any], datetime]] = []
        created: list[tuple[str, str]] = [("visits", visit_uuid)]
        photos: list[tuple[str, bytes, str]] = []
        check_in: dict[str, Any] = {
            "visit_uuid": visit_uuid,
            "account_id": stop["account_id"],
            "stop_id": stop["stop_id"],
            "lat": round(lat, 6),
            "lon": round(lon, 6),
            "accuracy": round(rng.uniform(4, 25), 1),
        }
        queue.append(("check_in", check_in, arrived))
        moment = arrived + (left - arrived) * 0.7
        if disposition == "payment_collected":
            receipt = self.store.take_receipt()
            if receipt is None:
                disposition = "negotiating"
            else:
                payment = self._payment(rng, account, agency, visit_uuid, receipt, new_uuid())
                queue.append(("record_payment", payment, moment))
                created.append(("payments", payment["payment_uuid"]))
                data = make_png(rng, f"receipt {payment['receipt_number']}")
                photos.append(("receipt", data, "image/png"))
        if disposition == "promise_to_pay":
            promise = self._promise(rng, account, visit_uuid, new_uuid(), local_day)
            queue.append(("record_promise", promise, moment))
            created.append(("promises", promise["promise_uuid"]))
        queue.append(
            ("record_visit", {"visit_uuid": visit_uuid, "disposition": disposition}, moment)
        )
        if rng.random() < 0.6:
            label = f"facade {visit_uuid}"
            photos.append(
                (
                    "facade",
                    make_jpeg(rng, label, rng.randint(1, self.config.photo_kb) * 1024),
                    "image/jpeg",
                )
            )
        for kind, data, _mime in photos:
            sha = hashlib.sha256(data).hexdigest()
            photo_args = {
                "photo_uuid": new_uuid(),
                "kind": kind,
                "visit_uuid": visit_uuid,
                "sha256": sha,
                "size": len(data),
                "taken_at": moment.isoformat(),
                "lat": round(lat, 6),
                "lon": round(lon, 6),
            }
            queue.append(("attach_photo", photo_args, moment))
            created.append(("photos", sha))
        if rng.random() < 0.25:
            note = {
                "note_uuid": new_uuid(),
                "account_id": stop["account_id"],
                "visit_uuid": visit_uuid,
                "text": rng.choice(
                    [
                        "Vecina indica que trabaja de noche.",
                        "Portón verde, tocar dos veces.",
                        "Pide que lo visiten después de las 6 pm.",
                        "Perro bravo en la entrada.",
                    ]
                ),
            }
            queue.append(("add_note", note, moment))
            created.append(("notes", note["note_uuid"]))
        if disposition in ("third_party_message", "debtor_moved") and rng.random() < 0.3:
            contact = {
                "contact_uuid": new_uuid(),
                "account_id": stop["account_id"],
                "visit_uuid": visit_uuid,
                "phone": f"+51 9{rng.randint(10_000_000, 99_999_999)}",
            }
            queue.append(("update_contact", contact, moment))
            created.append(("contact_updates", contact["contact_uuid"]))
        queue.append(
            (
                "check_out",
                {"visit_uuid": visit_uuid, "lat": round(lat, 6), "lon": round(lon, 6)},
                left,
            )
        )
        self.advance(dwell * 60)
        with self.store.transaction():
            for name, args, when in queue:
                self.store.enqueue(name, args, when.isoformat())
            for _kind, data, mime in photos:
                self.store.add_photo(hashlib.sha256(data).hexdigest(), data, mime)
            for kind, key in created:
                self.store.record_created(kind, key)
            self.store.mark_walked(stop["stop_id"])
            self.store.put("sim_clock", left.isoformat())

    @staticmethod
    def _owed(account: dict[str, Any]) -> Decimal:
        owed = Decimal(str(account.get("overdue_balance") or account.get("balance") or "100"))
        return max(owed, Decimal("20.00"))

    def _payment(
        self,
        rng: random.Random,
        account: dict[str, Any],
        agency: dict[str, Any],
        visit_uuid: str,
        receipt: tuple[str, int],
        payment_uuid: str,
    ) -> dict[str, Any]:
        amount = (self._owed(account) * Decimal(str(rng.uniform(0.05, 0.5)))).quantize(CENT)
        payment: dict[str, Any] = {
            "payment_uuid": payment_uuid,
            "account_id": account["account_id"],
            "visit_uuid": visit_uuid,
            "amount": str(max(amount, Decimal("1.00"))),
            "receipt_number": f"R-{receipt[0]}-{receipt[1]:06d}",
        }
        if agency.get("cash_allowed", True) and rng.random() < 0.8:
            payment["method"] = "cash"
        else:
            payment["method"] = "transfer"
            payment["reference"] = f"OP-{rng.randint(10**7, 10**8 - 1)}"
        return payment

    def _promise(
        self,
        rng: random.Random,
        account: dict[str, Any],
        visit_uuid: str,
        promise_uuid: str,
        day: date,
    ) -> dict[str, Any]:
        owed = self._owed(account)
        debt = max(owed, Decimal(str(account.get("balance") or owed)))
        options = account.get("negotiation_options") or {}
        max_n = int(options.get("max_installments", 1))
        first_days = int(options.get("max_days_to_first_payment", 30))
        base: dict[str, Any] = {"promise_uuid": promise_uuid, "visit_uuid": visit_uuid}
        minimum = Decimal(str(options.get("min_installment") or "1.00"))
        if max_n >= 2 and rng.random() < 0.4:
            n = rng.randint(2, min(max_n, 6))
            discount = Decimal(str(rng.uniform(0, float(options.get("max_discount_pct", 0)))))
            # A plan settles the whole debt, less at most the creditor's discount.
            total = (debt * (100 - discount) / 100).quantize(CENT, rounding=ROUND_UP)
            each = (total / n).quantize(CENT, rounding=ROUND_UP)
            if each >= minimum:
                first = day + timedelta(days=rng.randint(1, min(7, first_days)))
                parts = [each] * (n - 1) + [total - each * (n - 1)]
                if parts[-1] >= minimum:
                    base["installments"] = [
                        {"due_date": (first + timedelta(days=30 * k)).isoformat(), "amount": str(a)}
                        for k, a in enumerate(parts)
                    ]
                    return base
        amount = (owed * Decimal(str(rng.uniform(0.2, 1.0)))).quantize(CENT)
        base["amount"] = str(max(amount, Decimal("1.00")))
        base["due_date"] = (day + timedelta(days=rng.randint(1, min(14, first_days)))).isoformat()
        return base
