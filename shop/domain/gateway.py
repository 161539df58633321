"""The payment gateway interface and the simulated card gateway used locally and in tests.

A gateway that cannot answer raises ``shop.domain.errors.GatewayError``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from redis import Redis

# How often a paused simulated charge checks whether its pause file is gone (test hook only).
PAUSE_POLL_S = 0.05


@dataclass(frozen=True)
class Charge:
    approved: bool
    reference: str
    reason: str = ""


class PaymentGateway(Protocol):
    """What the shop needs from a card processor; charges are idempotent per key.

    ``lookup`` answers what the processor knows about a key (None: it never charged it), so a
    payment whose process died after the charge can be settled later by the reconciler.
    ``refund`` is idempotent per reference.
    """

    def charge(self, *, amount: int, card_number: str, idempotency_key: str) -> Charge: ...

    def lookup(self, *, idempotency_key: str) -> Charge | None: ...

    def refund(self, *, reference: str, amount: int) -> None: ...


class SimulatedGateway:
    """A deterministic stand-in for a card processor, with the usual test card numbers.

    4242424242424242 is approved, 4000000000000002 is declined; any other number that passes the
    Luhn check is approved, so the form behaves like a real one.

    Like a real processor it remembers what it did, outside the shop's processes: in Redis when
    given a client (shared by every web worker, the scheduler and the tests), else in memory. It
    counts charge calls per key and refunds per reference, so tests can prove "charged once".
    ``pause_file`` is a test hook: while that file exists, a charge that has been made waits before
    answering, the moment at which a web process can be killed between the charge and its commit.
    """

    APPROVED = "4242424242424242"
    DECLINED = "4000000000000002"
    PREFIX = "shop:gateway:"

    def __init__(self, redis: Redis | None = None, pause_file: str = "") -> None:
        self.redis = redis
        self.pause_file = pause_file
        self._memory: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def charge(self, *, amount: int, card_number: str, idempotency_key: str) -> Charge:
        reference = "sim_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]
        approved = card_number != self.DECLINED
        record = {
            "reference": reference,
            "amount": str(amount),
            "approved": "1" if approved else "0",
            "reason": "" if approved else "card_declined",
        }
        self._record_charge(idempotency_key, record)
        self._pause()
        return self._to_charge(self._read(f"charge:{idempotency_key}"))

    def lookup(self, *, idempotency_key: str) -> Charge | None:
        record = self._read(f"charge:{idempotency_key}")
        return self._to_charge(record) if record else None

    def refund(self, *, reference: str, amount: int) -> None:
        """Refunds always succeed in the simulation; each call is counted."""
        self._incr(f"refund:{reference}")

    def charge_calls(self, idempotency_key: str) -> int:
        """How many times a charge was asked for with this key."""
        return int(self._read(f"charge:{idempotency_key}").get("calls", 0))

    def refund_calls(self, reference: str) -> int:
        """How many times a refund of this charge was asked for."""
        return int(self._read(f"refund:{reference}").get("calls", 0))

    def _record_charge(self, key: str, record: dict[str, str]) -> None:
        # The first charge with a key decides it; a repeat returns the same charge (idempotent).
        name = f"charge:{key}"
        if self.redis is not None:
            pipe = self.redis.pipeline()
            for field, value in record.items():
                pipe.hsetnx(self.PREFIX + name, field, value)
            pipe.hincrby(self.PREFIX + name, "calls", 1)
            pipe.execute()
            return
        with self._lock:
            stored = self._memory.setdefault(name, dict(record))
            stored["calls"] = str(int(stored.get("calls", 0)) + 1)

    def _incr(self, name: str) -> None:
        if self.redis is not None:
            self.redis.hincrby(self.PREFIX + name, "calls", 1)
            return
        with self._lock:
            stored = self._memory.setdefault(name, {})
            stored["calls"] = str(int(stored.get("calls", 0)) + 1)

    def _read(self, name: str) -> dict[str, str]:
        if self.redis is not None:
            raw = self.redis.hgetall(self.PREFIX + name)
            return {k.decode(): v.decode() for k, v in raw.items()}
        with self._lock:
            return dict(self._memory.get(name, {}))

    def _pause(self) -> None:
        while self.pause_file and Path(self.pause_file).exists():
            time.sleep(PAUSE_POLL_S)

    @staticmethod
    def _to_charge(record: dict[str, str]) -> Charge:
        approved = record["approved"] == "1"
        return Charge(approved=approved, reference=record["reference"], reason=record["reason"])


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
