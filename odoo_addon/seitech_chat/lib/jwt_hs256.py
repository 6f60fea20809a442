# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Minimal HS256 JSON Web Tokens with the standard library.

The addon only ever signs HS256 tokens for the gateway; carrying PyJWT as a
runtime dependency of an Odoo module for 30 lines is not worth the install
step on every Odoo server. The tests cross-check against PyJWT.
"""

import base64
import hashlib
import hmac
import json
import time

from .constants import ROLES

DEFAULT_TTL_SECS = 300
MIN_SECRET_BYTES = 32


class TokenError(ValueError):
    """A token that must be refused; the message is for logs, not clients."""


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text):
    if not isinstance(text, str) or not text:
        raise TokenError("empty segment")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise TokenError("bad base64") from exc


def _check_secret(secret):
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        # A short secret makes HS256 brute-forceable; refuse to sign with it
        # rather than issue tokens that look fine and are not.
        raise TokenError(f"secret must be at least {MIN_SECRET_BYTES} bytes")
    return secret


def encode(claims, secret):
    secret = _check_secret(secret)
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    )
    sig = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64url(sig)


def decode(token, secret, *, now=None, leeway=0):
    """Verify signature, algorithm and expiry; return the claims."""
    secret = _check_secret(secret)
    if not isinstance(token, str) or token.count(".") != 2:
        raise TokenError("not a JWT")
    head_b64, body_b64, sig_b64 = token.split(".")
    try:
        header = json.loads(_b64url_decode(head_b64))
        claims = json.loads(_b64url_decode(body_b64))
    except ValueError as exc:
        raise TokenError("bad JSON") from exc
    # Checking alg before the signature closes the "alg: none" and
    # algorithm-confusion attacks.
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise TokenError("algorithm must be HS256")
    expected = hmac.new(
        secret, f"{head_b64}.{body_b64}".encode("ascii"), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(expected, _b64url_decode(sig_b64)):
        raise TokenError("bad signature")
    if not isinstance(claims, dict):
        raise TokenError("claims must be an object")
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise TokenError("exp missing")
    now = int(time.time()) if now is None else now
    if exp + leeway <= now:
        raise TokenError("expired")
    return claims


def build_claims(*, user_id, name, role, partner_id, now=None,
                 ttl=DEFAULT_TTL_SECS, department=None):
    """Claims of the token /seitech_chat/token returns (protocol section 1)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if not isinstance(ttl, int) or not 0 < ttl <= 86400:
        raise ValueError("ttl must be 1..86400 seconds")
    now = int(time.time()) if now is None else int(now)
    claims = {
        # JWT says sub is a string; the gateway's user ids are strings too.
        "sub": str(int(user_id)),
        "name": str(name or ""),
        "role": role,
        "partner_id": int(partner_id) if partner_id else None,
        "iat": now,
        "exp": now + ttl,
    }
    if department:
        claims["department"] = department
    return claims
