"""Dispositions and the contact funnel of the KPI model (§2 of kpi-model.md).

Every attempt carries exactly one disposition; the disposition decides how far down the
funnel the attempt reached. Any channel (field visit, phone call) records the same machine
names, so reports read the same whoever produced the events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from types import MappingProxyType


class FunnelLevel(IntEnum):
    """How far an attempt got; a level includes every level above it (lower value)."""

    ATTEMPT = 1
    CONNECTION = 2
    CONTACT = 3
    DIRECT_CONTACT = 4
    PROMISE = 5

    @property
    def machine_name(self) -> str:
        """The snake_case name used in JSON and CSV (``direct_contact``)."""
        return self.name.lower()


class Disposition(StrEnum):
    """The outcome of one attempt; values are the stable machine names."""

    ADDRESS_NOT_FOUND = "address_not_found"
    NO_ANSWER = "no_answer"
    ACCESS_DENIED = "access_denied"
    THIRD_PARTY_MESSAGE = "third_party_message"
    DEBTOR_MOVED = "debtor_moved"
    DEBTOR_DECEASED = "debtor_deceased"
    REFUSED_TO_PAY = "refused_to_pay"
    DISPUTE = "dispute"
    NEGOTIATING = "negotiating"
    ALREADY_PAID = "already_paid"
    PROMISE_TO_PAY = "promise_to_pay"
    PAYMENT_COLLECTED = "payment_collected"

    @property
    def info(self) -> DispositionInfo:
        """The row of the disposition table for this disposition."""
        return DISPOSITIONS[self]

    @property
    def level(self) -> FunnelLevel:
        """The funnel level this disposition reaches."""
        return DISPOSITIONS[self].level


@dataclass(frozen=True, slots=True)
class DispositionInfo:
    """One row of the disposition table.

    ``records_payment`` marks the disposition whose attempt also carries a field payment;
    ``yields_promise`` the one whose attempt carries a promise to pay.
    """

    disposition: Disposition
    label_es: str
    label_en: str
    level: FunnelLevel
    yields_promise: bool = False
    records_payment: bool = False


def _table(*rows: DispositionInfo) -> Mapping[Disposition, DispositionInfo]:
    return MappingProxyType({row.disposition: row for row in rows})


_L = FunnelLevel
_D = Disposition

DISPOSITIONS: Mapping[Disposition, DispositionInfo] = _table(
    DispositionInfo(_D.ADDRESS_NOT_FOUND, "Domicilio no ubicado", "Address not found", _L.ATTEMPT),
    DispositionInfo(_D.NO_ANSWER, "Nadie atiende", "No answer", _L.ATTEMPT),
    DispositionInfo(
        _D.ACCESS_DENIED,
        "Atienden pero no permiten contacto",
        "Answered but contact not allowed",
        _L.CONNECTION,
    ),
    DispositionInfo(
        _D.THIRD_PARTY_MESSAGE, "Mensaje con tercero", "Message left with third party", _L.CONTACT
    ),
    DispositionInfo(
        _D.DEBTOR_MOVED,
        "Tercero informa que se mudó",
        "Third party reports debtor moved",
        _L.CONTACT,
    ),
    DispositionInfo(
        _D.DEBTOR_DECEASED,
        "Tercero informa fallecimiento",
        "Third party reports debtor deceased",
        _L.CONTACT,
    ),
    DispositionInfo(
        _D.REFUSED_TO_PAY, "Titular se niega a pagar", "Debtor refuses to pay", _L.DIRECT_CONTACT
    ),
    DispositionInfo(
        _D.DISPUTE, "Titular disputa la deuda", "Debtor disputes the debt", _L.DIRECT_CONTACT
    ),
    DispositionInfo(
        _D.NEGOTIATING,
        "Titular en negociación, sin compromiso",
        "Debtor negotiating, no commitment",
        _L.DIRECT_CONTACT,
    ),
    DispositionInfo(
        _D.ALREADY_PAID,
        "Titular declara haber pagado",
        "Debtor states already paid",
        _L.DIRECT_CONTACT,
    ),
    DispositionInfo(
        _D.PROMISE_TO_PAY, "Promesa de pago", "Promise to pay", _L.PROMISE, yields_promise=True
    ),
    DispositionInfo(
        _D.PAYMENT_COLLECTED,
        "Pago en campo",
        "Payment collected in the field",
        _L.DIRECT_CONTACT,
        records_payment=True,
    ),
)

DISPOSITION_NAMES: tuple[str, ...] = tuple(d.value for d in Disposition)
"""Machine names in table order, e.g. for a database CHECK constraint or an enum column."""


def parse_disposition(name: str) -> Disposition:
    """Look a disposition up by machine name; unknown names raise ``ValueError``."""
    try:
        return Disposition(name)
    except ValueError:
        raise ValueError(f"unknown disposition {name!r}") from None


def dispositions_reaching(level: FunnelLevel) -> frozenset[Disposition]:
    """Dispositions whose attempt counts at ``level`` (it or any deeper level).

    The server uses this to build ``CASE WHEN disposition IN (...)`` sums for the funnel.
    """
    return frozenset(d for d, info in DISPOSITIONS.items() if info.level >= level)
