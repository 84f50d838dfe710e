"""A realistic demo agency in Lima: portfolio, team, zones and two weeks of field history.

Deterministic for a given seed and day, so screenshots, tests and reports can be compared.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import insert, select

from kpi import Disposition
from server.auth import hash_device_credential, hash_password
from server.extensions import db
from server.models import (
    Account,
    Assignment,
    Collector,
    Device,
    Payment,
    Photo,
    Position,
    PromiseInstallment,
    PromiseToPay,
    User,
    Visit,
    Zone,
)
from server.services import importing, planning, reporting
from server.services.demo_geo import (
    DISTRICTS,
    EARTH_RADIUS_M,
    ZONE_COLORS,
    ZONE_RINGS,
    point_in_district,
    zone_polygon,
)
from server.services.devices import allot_receipt_block
from server.services.settings import get_settings
from server.services.zones import assign_accounts_to_zones
from sync.receipts import format_receipt

PORTFOLIO = "banco-andino"
HISTORY_DAYS = 14
FIRST_NAMES = (
    "José",
    "Luis",
    "Carlos",
    "Juan",
    "Jorge",
    "Miguel",
    "Víctor",
    "César",
    "Pedro",
    "Jesús",
    "María",
    "Rosa",
    "Carmen",
    "Ana",
    "Julia",
    "Elena",
    "Luz",
    "Gloria",
    "Patricia",
    "Sonia",
    "Milagros",
    "Roxana",
    "Diana",
    "Karina",
    "Wilmer",
    "Édgar",
    "Raúl",
    "Óscar",
    "Iván",
    "Yolanda",
)
LAST_NAMES = (
    "Quispe",
    "Flores",
    "Sánchez",
    "Rodríguez",
    "García",
    "Rojas",
    "Mamani",
    "Huamán",
    "Vásquez",
    "Chávez",
    "Ramírez",
    "Torres",
    "Mendoza",
    "Castillo",
    "Díaz",
    "Gonzales",
    "Ramos",
    "Cruz",
    "Espinoza",
    "Gutiérrez",
    "Fernández",
    "Pérez",
    "López",
    "Condori",
    "Salazar",
    "Cárdenas",
)
STREETS = (
    "Av. Túpac Amaru",
    "Av. Universitaria",
    "Jr. Huancavelica",
    "Calle Los Pinos",
    "Av. Los Álamos",
    "Jr. Junín",
    "Av. Próceres",
    "Calle Las Begonias",
    "Av. Grau",
    "Jr. Ayacucho",
    "Av. Perú",
    "Calle Santa Rosa",
    "Av. El Sol",
    "Jr. Los Cedros",
    "Av. Pachacútec",
    "Calle Las Gardenias",
)
SEGMENTS = ("consumo", "tarjeta", "microempresa", "vehicular")

# The field funnel the demo follows (weights per 1,000 attempts).
DISPOSITION_WEIGHTS: dict[Disposition, int] = {
    Disposition("address_not_found"): 55,
    Disposition("no_answer"): 290,
    Disposition("access_denied"): 60,
    Disposition("third_party_message"): 140,
    Disposition("debtor_moved"): 30,
    Disposition("debtor_deceased"): 5,
    Disposition("refused_to_pay"): 70,
    Disposition("dispute"): 30,
    Disposition("negotiating"): 100,
    Disposition("already_paid"): 25,
    Disposition("promise_to_pay"): 140,
    Disposition("payment_collected"): 55,
}
CONTACT_DISPOSITIONS = {
    "third_party_message",
    "debtor_moved",
    "debtor_deceased",
    "refused_to_pay",
    "dispute",
    "negotiating",
    "already_paid",
    "promise_to_pay",
    "payment_collected",
}


@dataclass
class DemoSummary:
    accounts: int
    collectors: int
    visits: int
    promises: int
    payments: int
    positions: int
    today: date

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "today": self.today.isoformat()}


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {rng.choice(LAST_NAMES)}"


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(Decimal("0.01"))


def _account_rows(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """The portfolio as the creditor would export it, two weeks ago."""
    weights = [d.radius_m**2 for d in DISTRICTS]
    rows = []
    for n in range(1, count + 1):
        district = rng.choices(DISTRICTS, weights)[0]
        lat, lon = point_in_district(rng, district)
        balance = min(60000.0, rng.lognormvariate(math.log(3200), 0.8))
        bucket = rng.choices([0, 1, 2, 3, 4, 5], [4, 34, 22, 15, 10, 15])[0]
        low, high = [(0, 0), (1, 30), (31, 60), (61, 90), (91, 120), (121, 360)][bucket]
        dpd = rng.randint(low, high)
        overdue = balance * min(1.0, 0.08 + dpd / 240 + rng.random() * 0.1) if dpd else 0.0
        windows = ""
        if rng.random() < 0.3:
            windows = rng.choice(
                ["L-V 09:00-13:00", "L-V 14:00-18:00", "L-S 08:00-12:00", "L-V 16:00-19:30"]
            )
        located = rng.random() > 0.03
        rows.append(
            {
                "cuenta": f"BA-{n:06d}",
                "nombre": _name(rng),
                "dni": f"{rng.randint(10_000_000, 79_999_999)}",
                "telefono": f"9{rng.randint(10_000_000, 99_999_999)}",
                "direccion": f"{rng.choice(STREETS)} {rng.randint(100, 2999)}",
                "distrito": district.name,
                "latitud": lat if located else "",
                "longitud": lon if located else "",
                "moneda": "PEN",
                "saldo": str(_money(balance)),
                "saldo_vencido": str(_money(overdue)),
                "dias_mora": dpd,
                "riesgo": round(min(0.99, max(0.01, dpd / 200 + rng.gauss(0.2, 0.12))), 2),
                "segmento": rng.choice(SEGMENTS),
                "horario": windows,
                "descuento_maximo": 10 if dpd < 90 else 25,
                "max_cuotas": 3 if dpd < 60 else 6,
            }
        )
    return rows


def _users_and_team(rng: random.Random, password: str, zones: dict[str, Zone]) -> list[Collector]:
    password_hash = hash_password(password)
    for username, role, full_name in (
        ("admin", "admin", "Administración"),
        ("dispatcher", "dispatcher", "Central de despacho"),
        ("manager", "manager", "Gerencia de cobranza"),
    ):
        db.session.add(
            User(username=username, role=role, full_name=full_name, password_hash=password_hash)
        )
    zone_names = list(ZONE_RINGS)
    collectors = []
    for n in range(1, 26):
        zone_name = zone_names[(n - 1) % len(zone_names)]
        district = rng.choice([d for d in DISTRICTS if d.zone == zone_name])
        home = point_in_district(rng, district)
        full_name = _name(rng)
        user = User(
            username=f"collector{n:02d}",
            role="collector",
            full_name=full_name,
            password_hash=password_hash,
        )
        db.session.add(user)
        db.session.flush()
        early = n % 3 != 0
        collector = Collector(
            user_id=user.id,
            code=f"C{n:02d}",
            full_name=full_name,
            phone=f"9{rng.randint(10_000_000, 99_999_999)}",
            start_lat=home[0],
            start_lon=home[1],
            end_lat=home[0],
            end_lon=home[1],
            shift_start_min=(8 if early else 9) * 60,
            shift_end_min=(17 if early else 18) * 60,
            break_start_min=13 * 60,
            break_end_min=14 * 60 + 30,
            break_duration_min=45,
            travel_mode="walk" if n % 5 == 0 else "motorbike",
            max_visits_per_day=18 if n % 5 == 0 else 26,
        )
        collector.zones = [zones[zone_name]]
        db.session.add(collector)
        collectors.append(collector)
    db.session.flush()
    return collectors


def _working_days(today: date, country: str) -> list[date]:
    public = holidays.country_holidays(country, years=[today.year - 1, today.year])
    days = [today - timedelta(days=k) for k in range(HISTORY_DAYS, 0, -1)]
    return [d for d in days if d.weekday() < 5 and d not in public]


def _offset_point(rng: random.Random, lat: float, lon: float, metres: float) -> tuple[float, float]:
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = metres * math.cos(bearing) / EARTH_RADIUS_M * 180 / math.pi
    dlon = (
        metres * math.sin(bearing) / (EARTH_RADIUS_M * math.cos(math.radians(lat))) * 180 / math.pi
    )
    return round(lat + dlat, 6), round(lon + dlon, 6)


def _where(account: Account) -> tuple[float, float]:
    """Only located accounts are visited in the demo."""
    assert account.lat is not None and account.lon is not None
    return account.lat, account.lon


def _haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


class _History:
    """Generates two weeks of visits, promises, payments and GPS tracks for the team."""

    def __init__(self, rng: random.Random, tz: ZoneInfo, today: date) -> None:
        self.rng = rng
        self.tz = tz
        self.today = today
        self.visits: list[dict[str, Any]] = []
        self.assignments: list[dict[str, Any]] = []
        self.positions: list[dict[str, Any]] = []
        self.promises: list[tuple[dict[str, Any], list[tuple[date, Decimal]]]] = []
        self.payments: list[dict[str, Any]] = []
        self.photos: list[dict[str, Any]] = []
        self.creditor_rows: list[dict[str, Any]] = []
        self.paid: dict[int, Decimal] = {}
        self.last_fix: dict[str, tuple[date, float, float, datetime]] = {}

    def at(self, day: date, minute: float) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.tz) + timedelta(minutes=minute)

    def collector_day(
        self,
        collector: Collector,
        device: Device,
        receipts: list[int],
        day: date,
        pool: list[Account],
    ) -> list[Account]:
        """Walk one collector's day; returns the accounts given to them."""
        rng = self.rng
        home = (collector.start_lat, collector.start_lon)
        most = collector.max_visits_per_day
        if collector.travel_mode == "walk":
            # Walkers get fewer doors, around their own neighbourhood.
            pool = sorted(pool, key=lambda a: _haversine_m(home, _where(a)))[:30]
            most = min(most, 11)
        planned = rng.sample(pool, min(len(pool), rng.randint(most * 2 // 3, most)))
        # Visit in a nearest-neighbour order from home, as a dispatcher's route would.
        here = (collector.start_lat, collector.start_lon)
        ordered: list[Account] = []
        remaining = list(planned)
        while remaining:
            nxt = min(remaining, key=lambda a: _haversine_m(here, _where(a)))
            ordered.append(nxt)
            remaining.remove(nxt)
            here = _where(nxt)
        speed = 1.3 if collector.travel_mode == "walk" else 6.5  # m/s with circuity
        minute = collector.shift_start_min + rng.uniform(5, 25)
        here = (collector.start_lat, collector.start_lon)
        attempted = int(len(ordered) * rng.uniform(0.8, 1.0))
        lunch_taken = False
        for sequence, account in enumerate(ordered, start=1):
            assignment_index = len(self.assignments)
            done = sequence <= attempted
            target = _where(account)
            travel_min = _haversine_m(here, target) * 1.35 / speed / 60
            self._track(device, collector, day, here, target, minute, travel_min)
            minute += travel_min + rng.uniform(1, 6)
            if minute > 13 * 60 + 15 and not lunch_taken:
                minute += collector.break_duration_min
                lunch_taken = True
            self.assignments.append(
                {
                    "account_id": account.id,
                    "collector_id": collector.id,
                    "date": day,
                    "sequence": sequence,
                    "status": "done" if done else "active",
                    "eta": self.at(day, minute - rng.uniform(-10, 20)),
                    "created_at": self.at(day - timedelta(days=1), 18 * 60),
                    "updated_at": self.at(day, minute),
                }
            )
            if not done or minute > collector.shift_end_min - 10:
                continue
            self._visit(collector, device, receipts, day, account, minute, assignment_index)
            minute += rng.uniform(6, 18)
            here = target
        return planned

    def _track(
        self,
        device: Device,
        collector: Collector,
        day: date,
        start: tuple[float, float],
        end: tuple[float, float],
        minute: float,
        travel_min: float,
    ) -> None:
        steps = max(1, int(travel_min / 2))
        for k in range(steps + 1):
            share = k / steps
            lat = start[0] + (end[0] - start[0]) * share + self.rng.gauss(0, 0.00005)
            lon = start[1] + (end[1] - start[1]) * share + self.rng.gauss(0, 0.00005)
            fix = self.at(day, minute + travel_min * share) + timedelta(
                seconds=self.rng.randint(0, 50)
            )
            previous = self.last_fix.get(device.id)
            distance = None
            if previous is not None and previous[0] == day:
                # Fix times only move forward, and each fix measures from the one before it.
                fix = max(fix, previous[3] + timedelta(seconds=1))
                distance = round(_haversine_m((previous[1], previous[2]), (lat, lon)), 1)
            self.last_fix[device.id] = (day, lat, lon, fix)
            self.positions.append(
                {
                    "device_id": device.id,
                    "collector_id": collector.id,
                    "fix_time": fix,
                    "device_time": fix,
                    "server_time": fix + timedelta(seconds=self.rng.randint(1, 90)),
                    "local_date": day,
                    "lat": round(lat, 6),
                    "lon": round(lon, 6),
                    "accuracy_m": round(self.rng.uniform(4, 25), 1),
                    "speed_mps": round(self.rng.uniform(0.8, 9), 2),
                    "provider": "gps",
                    "mock": False,
                    "distance_m": distance,
                }
            )

    def _visit(
        self,
        collector: Collector,
        device: Device,
        receipts: list[int],
        day: date,
        account: Account,
        minute: float,
        assignment_index: int,
    ) -> None:
        rng = self.rng
        disposition = rng.choices(list(DISPOSITION_WEIGHTS), list(DISPOSITION_WEIGHTS.values()))[0]
        checked_in = self.at(day, minute)
        far = rng.random() < 0.06
        lat, lon = _offset_point(
            rng, *_where(account), rng.uniform(300, 900) if far else rng.uniform(3, 80)
        )
        distance = _haversine_m((lat, lon), _where(account))
        visit_uuid = str(uuid.UUID(int=rng.getrandbits(128)))
        self.visits.append(
            {
                "client_uuid": visit_uuid,
                "account_id": account.id,
                "collector_id": collector.id,
                "device_id": device.id,
                "assignment_index": assignment_index,
                "disposition": disposition.value,
                "checked_in_at": checked_in,
                "device_time": checked_in,
                "received_at": checked_in + timedelta(minutes=rng.randint(1, 40)),
                "checked_out_at": checked_in + timedelta(minutes=rng.uniform(4, 15)),
                "local_date": day,
                "lat": lat,
                "lon": lon,
                "accuracy_m": round(rng.uniform(4, 30), 1),
                "distance_m": round(distance, 1),
                "geo_status": "verified" if distance <= 150 else "far_from_address",
                "flags": [],
                "created_at": checked_in,
            }
        )
        if disposition.value in CONTACT_DISPOSITIONS and rng.random() < 0.45:
            self.photos.append(
                {
                    "client_uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                    "visit_uuid": visit_uuid,
                    "account_id": account.id,
                    "collector_id": collector.id,
                    "sha256": hashlib.sha256(visit_uuid.encode()).hexdigest(),
                    "size_bytes": rng.randint(180_000, 900_000),
                    "mime": "image/jpeg",
                    "kind": rng.choice(["facade", "document"]),
                    "taken_at": checked_in,
                    "lat": lat,
                    "lon": lon,
                    "created_at": checked_in,
                }
            )
        overdue = account.overdue_balance or Decimal("100")
        if disposition.value == "promise_to_pay":
            self._promise(collector, account, day, checked_in, visit_uuid, overdue)
        elif disposition.value == "payment_collected":
            amount = _money(float(overdue) * rng.uniform(0.15, 0.6))
            number = receipts.pop(0)
            method = "cash" if rng.random() < 0.8 else "wallet"
            receipt = format_receipt(get_settings().receipt_prefix, number)
            self.payments.append(
                {
                    "client_uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                    "visit_uuid": visit_uuid,
                    "account_id": account.id,
                    "collector_id": collector.id,
                    "device_id": device.id,
                    "source": "field",
                    "amount": amount,
                    "currency": account.currency,
                    "method": method,
                    "receipt_number": receipt,
                    "paid_at": checked_in,
                    "local_date": day,
                    "counted": True,
                    "created_at": checked_in,
                }
            )
            self.paid[account.id] = self.paid.get(account.id, Decimal(0)) + amount
            if rng.random() < 0.3:
                # The creditor's system later posts the same receipt: must not count twice.
                self._creditor_row(account, amount, day + timedelta(days=1), receipt, method)

    def _promise(
        self,
        collector: Collector,
        account: Account,
        day: date,
        created: datetime,
        visit_uuid: str,
        overdue: Decimal,
    ) -> None:
        rng = self.rng
        total = max(
            Decimal("50"), (overdue * Decimal(str(rng.uniform(0.3, 1.0)))).quantize(Decimal("10"))
        )
        if rng.random() < 0.2:
            parts = 3
            share = (total / parts).quantize(Decimal("0.01"))
            plan = [(day + timedelta(days=7 * (k + 1)), share) for k in range(parts)]
            plan[-1] = (plan[-1][0], total - share * (parts - 1))
        else:
            plan = [(day + timedelta(days=rng.randint(2, 9)), total)]
        self.promises.append(
            (
                {
                    "client_uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                    "visit_uuid": visit_uuid,
                    "account_id": account.id,
                    "collector_id": collector.id,
                    "created_at": created,
                    "local_date": day,
                    "currency": account.currency,
                    "amount": total,
                    "first_due_date": plan[0][0],
                    "last_due_date": plan[-1][0],
                },
                plan,
            )
        )
        outcome = rng.choices(["kept", "late", "partial", "broken"], [45, 12, 15, 28])[0]
        for due, amount in plan:
            pay_day = (
                due - timedelta(days=rng.randint(0, 2))
                if outcome == "kept"
                else due + timedelta(days=1)
            )
            if outcome == "broken" or pay_day >= self.today:
                continue
            paid = (
                amount
                if outcome != "partial"
                else (amount * Decimal("0.5")).quantize(Decimal("0.01"))
            )
            self._creditor_row(account, paid, pay_day, None, "transfer")
            self.paid[account.id] = self.paid.get(account.id, Decimal(0)) + paid

    def _creditor_row(
        self, account: Account, amount: Decimal, day: date, receipt: str | None, method: str
    ) -> None:
        self.creditor_rows.append(
            {
                "cuenta": account.external_id,
                "monto": str(amount).replace(".", ","),
                "fecha_pago": day.strftime("%d/%m/%Y"),
                "recibo": receipt or "",
                "medio_pago": "efectivo" if method == "cash" else "transferencia",
                "referencia": f"OP{self.rng.randint(10**7, 10**8 - 1)}",
            }
        )


def _bulk(model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(model), rows[start : start + 5000])


def build_demo(
    seed: int = 7, today: date | None = None, password: str = "demo", accounts: int = 2000
) -> DemoSummary:
    """Build the whole demo agency in an empty database."""
    rng = random.Random(seed)
    settings = get_settings()
    settings.name, settings.timezone, settings.currency = (
        "Cobranzas Andinas S.A.C.",
        "America/Lima",
        "PEN",
    )
    settings.country_code, settings.contact_policy, settings.cash_allowed = "PE", "PE", True
    tz = ZoneInfo(settings.timezone)
    today = today or datetime.now(tz).date()

    zones = {}
    for name in ZONE_RINGS:
        zone = Zone(name=name, color=ZONE_COLORS[name], geometry=zone_polygon(name))
        db.session.add(zone)
        zones[name] = zone
    db.session.flush()
    collectors = _users_and_team(rng, password, zones)
    devices = []
    for collector in collectors:
        device = Device(
            id=str(uuid.UUID(int=rng.getrandbits(128))),
            collector_id=collector.id,
            name="Equipo histórico",
            platform="android",
            credential_hash=hash_device_credential(secrets.token_urlsafe(32)),
            tracking_id=secrets.token_hex(16),
            created_at=datetime.now(UTC),
        )
        db.session.add(device)
        devices.append(device)
    db.session.flush()
    receipts_by_device = {}
    for device in devices:
        block = allot_receipt_block(device)
        receipts_by_device[device.id] = list(range(block.start, block.end + 1))
    db.session.commit()

    rows = _account_rows(rng, accounts)
    start_day = today - timedelta(days=HISTORY_DAYS)
    importing.import_portfolio(
        json.dumps(rows).encode(), "cartera-inicial.json", PORTFOLIO, start_day
    )
    assign_accounts_to_zones()
    db.session.commit()

    located = list(
        db.session.execute(
            select(Account).where(Account.lat.is_not(None)).order_by(Account.id)
        ).scalars()
    )
    by_zone: dict[int | None, list[Account]] = {}
    for account in located:
        by_zone.setdefault(account.zone_id, []).append(account)
    history = _History(rng, tz, today)
    for day in _working_days(today, settings.country_code):
        taken: set[int] = set()  # one collector per door per day
        for collector, device in zip(collectors, devices, strict=True):
            pool = [
                a
                for a in by_zone.get(collector.zones[0].id, [])
                if a.days_past_due > 0 and a.id not in taken
            ]
            given = history.collector_day(
                collector, device, receipts_by_device[device.id], day, pool
            )
            taken.update(a.id for a in given)
    _record_history_plans(history)
    _store_history(history)

    # Two weeks later the creditor sends the portfolio again: the second snapshot.
    ids_by_external = {a.external_id: a.id for a in located}
    for row in rows:
        paid = history.paid.get(ids_by_external.get(row["cuenta"], -1), Decimal(0))
        _evolve(rng, row, paid)
    importing.import_portfolio(json.dumps(rows).encode(), "cartera-actual.json", PORTFOLIO, today)
    if history.creditor_rows:
        importing.import_payments(
            json.dumps(history.creditor_rows).encode(), "pagos-banco.json", PORTFOLIO
        )
    return DemoSummary(
        accounts=len(rows),
        collectors=len(collectors),
        visits=len(history.visits),
        promises=len(history.promises),
        payments=len(history.payments) + len(history.creditor_rows),
        positions=len(history.positions),
        today=today,
    )


def _evolve(rng: random.Random, row: dict[str, Any], paid: Decimal) -> None:
    """Move an account two weeks on: payments cure or improve it, otherwise it ages."""
    overdue = Decimal(row["saldo_vencido"])
    dpd = int(row["dias_mora"])
    if dpd == 0:
        if rng.random() < 0.08:
            row["dias_mora"] = rng.randint(1, 14)
            row["saldo_vencido"] = str(_money(float(row["saldo"]) * 0.05))
        return
    remaining = max(Decimal(0), overdue - paid)
    row["saldo"] = str(max(Decimal(0), Decimal(row["saldo"]) - paid))
    row["saldo_vencido"] = str(remaining.quantize(Decimal("0.01")))
    if paid and remaining <= overdue * Decimal("0.05"):
        row["dias_mora"] = 0
        row["saldo_vencido"] = "0.00"
    elif paid:
        row["dias_mora"] = max(1, dpd - rng.randint(15, 45))
    else:
        row["dias_mora"] = dpd + HISTORY_DAYS


def _record_history_plans(history: _History) -> None:
    """Each past day's routes become that day's published plan, as a dispatcher's would."""
    by_day: dict[date, dict[int, list[dict[str, Any]]]] = {}
    for row in history.assignments:
        by_day.setdefault(row["date"], {}).setdefault(row["collector_id"], []).append(row)
    for day, rows_by_collector in sorted(by_day.items()):
        routes = {
            collector_id: [r["account_id"] for r in sorted(rows, key=lambda r: r["sequence"])]
            for collector_id, rows in rows_by_collector.items()
        }
        route_plan = planning.record_routes(day, routes, "demo history")
        for rows in rows_by_collector.values():
            for row in rows:
                row["plan_id"] = route_plan.id


def _store_history(history: _History) -> None:
    # Assignments are inserted in order, so their ids follow the list's order.
    _bulk(Assignment, history.assignments)
    stored = list(db.session.execute(select(Assignment.id).order_by(Assignment.id)).scalars())
    visit_rows = []
    for row in history.visits:
        row = dict(row)
        row["assignment_id"] = stored[row.pop("assignment_index")]
        visit_rows.append(row)
    _bulk(Visit, visit_rows)
    visit_ids = dict(db.session.execute(select(Visit.client_uuid, Visit.id)).all())
    for promise_row, plan in history.promises:
        promise_row = dict(promise_row)
        promise_row["visit_id"] = visit_ids[promise_row.pop("visit_uuid")]
        promise = PromiseToPay(**promise_row)
        promise.installments = [
            PromiseInstallment(seq=k, due_date=due, amount=amount)
            for k, (due, amount) in enumerate(plan, start=1)
        ]
        db.session.add(promise)
    payment_rows = []
    for row in history.payments:
        row = dict(row)
        row["visit_id"] = visit_ids[row.pop("visit_uuid")]
        payment_rows.append(row)
    _bulk(Payment, payment_rows)
    photo_rows = []
    for row in history.photos:
        row = dict(row)
        row["visit_id"] = visit_ids[row.pop("visit_uuid")]
        photo_rows.append(row)
    _bulk(Photo, photo_rows)
    _bulk(Position, history.positions)
    # Bulk inserts bypass the ORM flush that keeps the KPI rollup and promise statuses.
    reporting.rebuild_kpi_state()
    db.session.commit()
