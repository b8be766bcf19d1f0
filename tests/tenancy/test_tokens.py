"""Access tokens (JWT) and refresh tokens: what is issued, and everything that must be refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
import uuid
from typing import Any

import jwt
import pytest

from ragplatform.errors import Unauthenticated
from ragplatform.settings import AuthSettings
from ragplatform.tenancy import tokens

SECRET = "unit-test-secret-0123456789abcdefghijklmnopqrstuvwxyz-0123456789ABCDEF"
OTHER_SECRET = "another-secret-0123456789abcdefghijklmnopqrstuvwxyz!!"
AUTH = AuthSettings(secret_key=SECRET)  # type: ignore[arg-type]
USER_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
TENANT_ID = uuid.UUID("00000000-0000-4000-8000-0000000000aa")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims for AUTH; an override of ``None`` removes the claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(USER_ID),
        "tenant": str(TENANT_ID),
        "role": "editor",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "iss": AUTH.issuer,
        "aud": AUTH.audience,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _refused(token: str, code: str = "invalid_token", auth: AuthSettings = AUTH) -> None:
    with pytest.raises(Unauthenticated) as info:
        tokens.decode_access_token(auth, token)
    assert info.value.code == code
    # One fixed message per code: nothing echoes the token or says which check failed.
    assert (
        info.value.detail
        == {
            "invalid_token": "the access token is invalid",
            "token_expired": "the access token has expired",
        }[code]
    )
    assert info.value.__cause__ is None  # raised "from None": no library internals chained


# -- issue / decode round trip ---------------------------------------------------------------


def test_issue_and_decode_round_trip_carries_every_claim() -> None:
    before = int(time.time())
    token, ttl = tokens.issue_access_token(AUTH, user_id=USER_ID, tenant_id=TENANT_ID, role="admin")
    after = int(time.time())
    assert ttl == AUTH.access_token_ttl_s == 900
    assert tokens.looks_like_jwt(token)

    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    assert header["typ"] == "JWT"

    raw = jwt.decode(
        token, SECRET, algorithms=["HS256"], audience=AUTH.audience, issuer=AUTH.issuer
    )
    assert set(raw) >= {"sub", "tenant", "role", "exp", "iat", "jti", "iss", "aud"}
    assert raw["sub"] == str(USER_ID)
    assert raw["tenant"] == str(TENANT_ID)
    assert raw["role"] == "admin"
    assert raw["iss"] == "ragplatform"
    assert raw["aud"] == "ragplatform"
    assert before <= raw["iat"] <= after + 1  # millisecond precision (password-reset cut-off)
    assert raw["nbf"] == int(raw["iat"])
    assert raw["exp"] == int(raw["iat"]) + ttl
    assert len(raw["jti"]) == 32
    int(raw["jti"], 16)  # a uuid4 hex

    claims = tokens.decode_access_token(AUTH, token)
    assert claims == tokens.AccessClaims(
        sub=USER_ID, tenant=TENANT_ID, role="admin", jti=raw["jti"], exp=raw["exp"], iat=raw["iat"]
    )


def test_each_token_has_a_fresh_jti() -> None:
    issued = {
        tokens.issue_access_token(AUTH, user_id=USER_ID, tenant_id=TENANT_ID, role="viewer")[0]
        for _ in range(5)
    }
    jtis = {tokens.decode_access_token(AUTH, t).jti for t in issued}
    assert len(jtis) == 5


def test_issuer_audience_and_ttl_come_from_settings() -> None:
    custom = AuthSettings(
        secret_key=SECRET,  # type: ignore[arg-type]
        issuer="https://auth.example",
        audience="rag-api",
        access_token_ttl_s=120,
    )
    token, ttl = tokens.issue_access_token(
        custom, user_id=USER_ID, tenant_id=TENANT_ID, role="viewer"
    )
    assert ttl == 120
    claims = tokens.decode_access_token(custom, token)
    assert claims.sub == USER_ID
    raw = jwt.decode(token, options={"verify_signature": False})
    assert (raw["iss"], raw["aud"], raw["exp"] - int(raw["iat"])) == (
        "https://auth.example",
        "rag-api",
        120,
    )
    # A token for one deployment is refused by another with a different issuer/audience.
    _refused(token)


def test_hand_built_valid_token_is_accepted() -> None:
    claims = _claims()
    decoded = tokens.decode_access_token(AUTH, _sign(claims))
    assert decoded.sub == USER_ID
    assert decoded.tenant == TENANT_ID
    assert decoded.role == "editor"
    assert decoded.jti == claims["jti"]
    assert decoded.exp == claims["exp"]


def test_audience_list_containing_ours_is_accepted() -> None:
    decoded = tokens.decode_access_token(AUTH, _sign(_claims(aud=["other", AUTH.audience])))
    assert decoded.sub == USER_ID


def test_small_clock_skew_is_tolerated() -> None:
    # exp one second ago is within the 5 s leeway.
    now = int(time.time())
    decoded = tokens.decode_access_token(AUTH, _sign(_claims(exp=now - 1, iat=now - 600)))
    assert decoded.exp == now - 1


# -- algorithm attacks -----------------------------------------------------------------------


@pytest.mark.parametrize("signature", ["", "c2lnbmF0dXJl"])
@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(alg: str, signature: str) -> None:
    token = f"{_segment({'alg': alg, 'typ': 'JWT'})}.{_segment(_claims())}.{signature}"
    assert tokens.looks_like_jwt(token)
    _refused(token)


def test_alg_none_produced_by_pyjwt_is_refused() -> None:
    _refused(jwt.encode(_claims(), None, algorithm="none"))


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_hmac_algorithm_with_the_same_secret_is_refused(algorithm: str) -> None:
    token = _sign(_claims(), algorithm=algorithm)
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    _refused(token)


def test_header_claiming_rs256_over_an_hmac_signature_is_refused() -> None:
    header = _segment({"alg": "RS256", "typ": "JWT"})
    payload = _segment(_claims())
    signing_input = f"{header}.{payload}".encode()
    signature = _b64(hmac.new(SECRET.encode(), signing_input, hashlib.sha256).digest())
    _refused(f"{header}.{payload}.{signature}")


_SMALL_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73)
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _probable_prime(bits: int, rng: random.Random) -> int:
    while True:
        n = rng.getrandbits(bits) | (1 << (bits - 1)) | 1
        if any(n % p == 0 for p in _SMALL_PRIMES):
            continue
        d, r = n - 1, 0
        while d % 2 == 0:
            d, r = d // 2, r + 1
        for _ in range(24):
            x = pow(rng.randrange(2, n - 2), d, n)
            if x in (1, n - 1):
                continue
            for _ in range(r - 1):
                x = pow(x, 2, n)
                if x == n - 1:
                    break
            else:
                break
        else:
            return n


def _rs256_token(claims: dict[str, Any]) -> str:
    """A genuine RS256 (RSASSA-PKCS1-v1_5 + SHA-256) JWT, without the cryptography package."""
    rng = random.Random(20240601)  # deterministic key: the test needs a valid, not a secret, key
    e = 65537
    while True:
        p, q = _probable_prime(512, rng), _probable_prime(512, rng)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e:
            break
    n, d = p * q, pow(e, -1, phi)
    k = (n.bit_length() + 7) // 8
    signing_input = f"{_segment({'alg': 'RS256', 'typ': 'JWT'})}.{_segment(claims)}".encode()
    t = _SHA256_DIGEST_INFO + hashlib.sha256(signing_input).digest()
    encoded = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    signature = pow(int.from_bytes(encoded, "big"), d, n)
    assert pow(signature, e, n).to_bytes(k, "big") == encoded  # a valid RSA signature
    return f"{signing_input.decode()}.{_b64(signature.to_bytes(k, 'big'))}"


def test_rs256_token_is_refused() -> None:
    token = _rs256_token(_claims())
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    _refused(token)


def test_rs256_token_from_the_cryptography_package_is_refused() -> None:
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(), private_key, algorithm="RS256")
    public_key = private_key.public_key()
    assert jwt.decode(token, public_key, algorithms=["RS256"], audience=AUTH.audience)
    _refused(token)

    # Key confusion: the RSA public key (PEM) used as an HMAC secret is just another wrong key.
    public_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _segment({"alg": "HS256", "typ": "JWT"})
    payload = _segment(_claims())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    _refused(f"{header}.{payload}.{_b64(mac)}")


# -- signature, expiry, issuer, audience -----------------------------------------------------


def test_token_signed_with_another_secret_is_refused() -> None:
    _refused(_sign(_claims(), key=OTHER_SECRET))


def test_token_issued_under_another_secret_is_refused() -> None:
    other = AuthSettings(secret_key=OTHER_SECRET)  # type: ignore[arg-type]
    token, _ = tokens.issue_access_token(other, user_id=USER_ID, tenant_id=TENANT_ID, role="owner")
    assert tokens.decode_access_token(other, token).role == "owner"
    _refused(token)


def test_tampered_payload_is_refused() -> None:
    token = _sign(_claims(role="viewer"))
    header, _, signature = token.split(".")
    forged = f"{header}.{_segment(_claims(role='owner'))}.{signature}"
    _refused(forged)


def test_truncated_or_stripped_signature_is_refused() -> None:
    token = _sign(_claims())
    header, payload, signature = token.split(".")
    _refused(f"{header}.{payload}.")
    _refused(f"{header}.{payload}.{signature[:-4]}")


def test_expired_token_is_refused_as_expired() -> None:
    now = int(time.time())
    _refused(_sign(_claims(iat=now - 3600, nbf=now - 3600, exp=now - 60)), code="token_expired")


def test_expired_token_with_a_bad_signature_is_not_reported_as_expired() -> None:
    # The signature is checked before the claims: a forger learns nothing about expiry.
    now = int(time.time())
    _refused(_sign(_claims(iat=now - 3600, exp=now - 60), key=OTHER_SECRET))


def test_not_yet_valid_token_is_refused() -> None:
    now = int(time.time())
    _refused(_sign(_claims(nbf=now + 600, exp=now + 1200)))
    _refused(_sign(_claims(iat=now + 600, exp=now + 1200)))


@pytest.mark.parametrize("issuer", ["someone-else", "", "RAGPLATFORM"])
def test_wrong_issuer_is_refused(issuer: str) -> None:
    _refused(_sign(_claims(iss=issuer)))


@pytest.mark.parametrize("audience", ["someone-else", "", ["other", "another"]])
def test_wrong_audience_is_refused(audience: object) -> None:
    _refused(_sign(_claims(aud=audience)))


@pytest.mark.parametrize("claim", ["sub", "tenant", "role", "exp", "iat", "jti", "iss", "aud"])
def test_token_missing_a_required_claim_is_refused(claim: str) -> None:
    claims = _claims()
    del claims[claim]
    _refused(_sign(claims))


@pytest.mark.parametrize(
    "overrides",
    [
        {"sub": "not-a-uuid"},
        {"sub": 42},
        {"tenant": "not-a-uuid"},
        {"tenant": ""},
        {"exp": "tomorrow"},
        {"iat": "now"},
        {"jti": 7},
    ],
    ids=lambda o: "-".join(f"{k}={v!r}" for k, v in o.items()),
)
def test_malformed_claim_values_are_refused(overrides: dict[str, Any]) -> None:
    _refused(_sign(_claims(**overrides)))


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "garbage",
        "a.b.c",
        "..",
        "...",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0",
        "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln",
        "bm90IGpzb24.bm90IGpzb24.bm90IGpzb24",
        "é.é.é",
        "\x00.\x00.\x00",
        "a" * 5000,
        ".".join(["eyJhbGciOiJIUzI1NiJ9"] * 3),
        _segment({"alg": "HS256"}) + ".W10." + "x",  # payload is a JSON array
    ],
)
def test_garbage_strings_are_refused(garbage: str) -> None:
    _refused(garbage)


# -- shape check -------------------------------------------------------------------------------


def test_looks_like_jwt() -> None:
    token, _ = tokens.issue_access_token(AUTH, user_id=USER_ID, tenant_id=TENANT_ID, role="viewer")
    assert tokens.looks_like_jwt(token)
    assert tokens.looks_like_jwt("a.b.c")
    assert not tokens.looks_like_jwt("a.b")
    assert not tokens.looks_like_jwt("a.b.c.d")
    assert not tokens.looks_like_jwt("rag_" + "x" * 40)
    assert not tokens.looks_like_jwt("a.b." + "c" * 4096)
    assert tokens.looks_like_jwt("a.b." + "c" * (4096 - 4))


# -- refresh tokens ----------------------------------------------------------------------------


def test_new_refresh_token_is_prefixed_random_and_hashed() -> None:
    token, token_hash = tokens.new_refresh_token()
    assert token.startswith(tokens.REFRESH_PREFIX) and tokens.REFRESH_PREFIX == "rfr_"
    assert len(token) >= 4 + 43  # 32 random bytes, base64url
    assert token_hash == tokens.hash_refresh_token(token)
    assert token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert len(token_hash) == 64
    assert token not in token_hash
    assert not tokens.looks_like_jwt(token)


def test_refresh_tokens_are_unique() -> None:
    pairs = [tokens.new_refresh_token() for _ in range(50)]
    assert len({t for t, _ in pairs}) == 50
    assert len({h for _, h in pairs}) == 50


def test_hash_refresh_token_is_deterministic_and_exact() -> None:
    token, token_hash = tokens.new_refresh_token()
    assert tokens.hash_refresh_token(token) == token_hash
    assert tokens.hash_refresh_token(token + "x") != token_hash
    assert tokens.hash_refresh_token(token.upper()) != token_hash
    assert tokens.hash_refresh_token("é") == hashlib.sha256("é".encode()).hexdigest()
