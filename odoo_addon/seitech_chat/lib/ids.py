# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""UUIDv7 ids (RFC 9562) for messages and push events written in Odoo:
time-ordered like the gateway's own ids, so both sort the same way."""

import os
import time
import uuid


def uuid7(now_ms=None):
    ms = int(time.time() * 1000) if now_ms is None else int(now_ms)
    if not 0 <= ms < 1 << 48:
        raise ValueError("timestamp out of range")
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 64) & 0xFFF) << 64 | (0b10 << 62) \
        | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def iso_utc(value):
    """Naive-UTC datetime -> '2026-11-24T10:00:00.000Z' (None stays None)."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
