import hashlib
import hmac
import json

import jwt as pyjwt
import pytest
from seitech_chat_lib import jwt_hs256, signing

SECRET = "x" * 40  # test-only value


def _claims(**kw):
    base = {"user_id": 42, "name": "Ada", "role": "student", "partner_id": 7, "now": 1_000_000, "ttl": 300}
    base.update(kw)
    return jwt_hs256.build_claims(**base)


def test_build_claims_shape():
    claims = _claims()
    assert claims == {"sub": "42", "name": "Ada", "role": "student", "partner_id": 7,
                      "iat": 1_000_000, "exp": 1_000_300}
    assert _claims(role="support-agent", department="billing")["department"] == "billing"


@pytest.mark.parametrize("kw", [{"role": "root"}, {"ttl": 0}, {"ttl": 10**6}])
def test_build_claims_refuses_bad_input(kw):
    with pytest.raises(ValueError):
        _claims(**kw)


def test_token_is_accepted_by_an_independent_jwt_library():
    token = jwt_hs256.encode(_claims(now=None), SECRET)
    decoded = pyjwt.decode(token, SECRET, algorithms=["HS256"])
    assert decoded["sub"] == "42" and decoded["role"] == "student"


def test_decode_accepts_tokens_of_an_independent_library():
    token = pyjwt.encode({"sub": "1", "exp": 2_000_000}, SECRET, algorithm="HS256")
    assert jwt_hs256.decode(token, SECRET, now=1_999_999)["sub"] == "1"


def test_decode_refuses_expired_tampered_and_alg_none():
    token = jwt_hs256.encode(_claims(), SECRET)
    with pytest.raises(jwt_hs256.TokenError, match="expired"):
        jwt_hs256.decode(token, SECRET, now=1_000_300)
    assert jwt_hs256.decode(token, SECRET, now=1_000_299)["sub"] == "42"
    head, body, sig = token.split(".")
    forged_body = jwt_hs256._b64url(json.dumps({"sub": "1", "role": "admin", "exp": 2_000_000}).encode())
    with pytest.raises(jwt_hs256.TokenError, match="signature"):
        jwt_hs256.decode(f"{head}.{forged_body}.{sig}", SECRET, now=1_000_000)
    none_head = jwt_hs256._b64url(b'{"alg":"none","typ":"JWT"}')
    with pytest.raises(jwt_hs256.TokenError, match="HS256"):
        jwt_hs256.decode(f"{none_head}.{body}.", SECRET, now=1_000_000)
    with pytest.raises(jwt_hs256.TokenError, match="signature"):
        jwt_hs256.decode(token, "y" * 40, now=1_000_000)


@pytest.mark.parametrize("junk", ["", "a.b", "a.b.c.d", None, 42, "!!!.???.###"])
def test_decode_refuses_garbage(junk):
    with pytest.raises(jwt_hs256.TokenError):
        jwt_hs256.decode(junk, SECRET)


def test_short_secret_is_refused_for_signing():
    with pytest.raises(jwt_hs256.TokenError, match="at least"):
        jwt_hs256.encode({"exp": 1}, "short")


BODY = b'{"version":1,"events":[]}'


def test_signature_format_is_hmac_of_timestamp_dot_body():
    expected = hmac.new(b"s3cret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signing.sign("s3cret", 1_700_000_000, BODY) == "sha256=" + expected


def test_verify_accepts_fresh_authentic_push():
    sig = signing.sign("s3cret", 1_700_000_000, BODY)
    signing.verify("s3cret", sig, "1700000000", BODY, now=1_700_000_100)


@pytest.mark.parametrize(
    ("sig_secret", "ts_header", "body", "now", "match"),
    [
        ("other", "1700000000", BODY, 1_700_000_000, "mismatch"),
        ("s3cret", "1700000001", BODY, 1_700_000_000, "mismatch"),
        ("s3cret", "1700000000", BODY + b" ", 1_700_000_000, "mismatch"),
        ("s3cret", "1700000000", BODY, 1_700_000_301, "tolerance"),
        ("s3cret", "not-a-number", BODY, 1_700_000_000, "timestamp"),
    ],
)
def test_verify_refuses(sig_secret, ts_header, body, now, match):
    sig = signing.sign(sig_secret, 1_700_000_000, BODY)
    with pytest.raises(signing.SignatureError, match=match):
        signing.verify("s3cret", sig, ts_header, body, now=now)


@pytest.mark.parametrize("header", [None, "", "md5=abc", "deadbeef"])
def test_verify_refuses_malformed_header(header):
    with pytest.raises(signing.SignatureError, match="malformed"):
        signing.verify("s3cret", header, "1700000000", BODY, now=1_700_000_000)


def test_sign_refuses_empty_secret():
    with pytest.raises(signing.SignatureError):
        signing.sign("", 1, BODY)
