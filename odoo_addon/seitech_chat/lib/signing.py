# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""HMAC-SHA256 signatures of Odoo -> gateway pushes.

The MAC covers ``<timestamp>.<raw body>``, not the body alone: with the
timestamp inside the MAC an attacker who captured one push cannot replay it
later with a fresh X-Seitech-Timestamp header.
"""

import hashlib
import hmac
import time

from .constants import SIGNATURE_TOLERANCE_SECS

PREFIX = "sha256="


class SignatureError(ValueError):
    pass


def _key(secret):
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not secret:
        raise SignatureError("no shared secret configured")
    return secret


def sign(secret, timestamp, body):
    """Value of the X-Seitech-Signature header for ``body`` (bytes)."""
    if not isinstance(body, bytes):
        raise TypeError("body must be the raw bytes sent")
    msg = str(int(timestamp)).encode("ascii") + b"." + body
    return PREFIX + hmac.new(_key(secret), msg, hashlib.sha256).hexdigest()


def verify(secret, signature, timestamp, body, *, now=None,
           tolerance=SIGNATURE_TOLERANCE_SECS):
    """Raise SignatureError unless the push is authentic and fresh."""
    if not isinstance(signature, str) or not signature.startswith(PREFIX):
        raise SignatureError("missing or malformed signature")
    try:
        ts = int(str(timestamp).strip())
    except (TypeError, ValueError) as exc:
        raise SignatureError("missing or malformed timestamp") from exc
    now = int(time.time()) if now is None else int(now)
    if abs(now - ts) > tolerance:
        raise SignatureError("timestamp outside tolerance")
    expected = sign(secret, ts, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureError("signature mismatch")
