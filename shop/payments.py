"""The payment gateway interface and the simulated card gateway used locally and in tests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Charge:
    approved: bool
    reference: str
    reason: str = ""


class PaymentGateway(Protocol):
    """What the shop needs from a card processor; charges are idempotent per key."""

    def charge(self, *, amount: int, card_number: str, idempotency_key: str) -> Charge: ...

    def refund(self, *, reference: str, amount: int) -> None: ...


class SimulatedGateway:
    """A deterministic stand-in for a card processor, with the usual test card numbers.

    4242424242424242 is approved, 4000000000000002 is declined; any other number that passes the
    Luhn check is approved, so the form behaves like a real one.
    """

    APPROVED = "4242424242424242"
    DECLINED = "4000000000000002"

    def charge(self, *, amount: int, card_number: str, idempotency_key: str) -> Charge:
        reference = "sim_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]
        if card_number == self.DECLINED:
            return Charge(approved=False, reference=reference, reason="card_declined")
        return Charge(approved=True, reference=reference)

    def refund(self, *, reference: str, amount: int) -> None:
        """Refunds always succeed in the simulation."""


def luhn_valid(number: str) -> bool:
    """Check a card number's Luhn digit, so typos are refused before any charge."""
    if not (number.isascii() and number.isdigit()) or not 12 <= len(number) <= 19:
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0
