"""tests/lib/jwt.py - JSON Web Tokens for the tests, made with Python's own hmac, hashlib and
base64 (independent of the header's code).

    token(secret, claims, alg="HS256", header=None)   a compact JWS; alg HS256/HS384/HS512 are
                                                      signed for real, anything else ("none",
                                                      "RS256") gets a dummy signature
    b64url(data) / now()
"""
import base64
import hashlib
import hmac
import json
import time


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def now():
    return int(time.time())


_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def sign(secret, signing_input, alg="HS256"):
    if isinstance(secret, str):
        secret = secret.encode()
    if alg in _HASHES:
        return b64url(hmac.new(secret, signing_input.encode(), _HASHES[alg]).digest())
    if alg == "none":
        return ""
    return b64url(b"\x01" * 256)   # RS256 & co: we cannot verify them, so any bytes will do


def token(secret, claims, alg="HS256", header=None):
    """claims: a dict (JSON-encoded here) or str/bytes taken as the payload's JSON text."""
    hdr = header if header is not None else {"alg": alg, "typ": "JWT"}
    h = b64url(json.dumps(hdr, separators=(",", ":")))
    if isinstance(claims, (str, bytes)):
        p = b64url(claims)
    else:
        p = b64url(json.dumps(claims, separators=(",", ":")))
    si = h + "." + p
    return si + "." + sign(secret, si, alg)
