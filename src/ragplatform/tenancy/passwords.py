"""Password hashing (argon2id) and the minimum strength policy."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ragplatform.errors import InvalidInput

MIN_LENGTH = 12
MAX_LENGTH = 256
_COMMON = frozenset(
    {
        "password1234",
        "123456789012",
        "qwertyuiopas",
        "passwordpassword",
        "letmein12345",
        "administrator",
        "changemechangeme",
    }
)


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile


def check_strength(password: str, *, email: str | None = None) -> None:
    """Refuse weak passwords with a message that says what to change."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"the password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"the password must be at most {MAX_LENGTH} characters long")
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 5:
        raise InvalidInput("the password is too easy to guess")
    if email and email.split("@", 1)[0].lower() in lowered and len(email.split("@")[0]) >= 4:
        raise InvalidInput("the password must not contain the email address")
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if classes < 2 and len(password) < 20:
        raise InvalidInput(
            "the password must mix at least two of lower case, upper case, digits and symbols "
            "(or be 20 characters or longer)"
        )


def hash_password_sync(password: str) -> str:
    """argon2id hash (CPU-bound: call through :func:`hash_password`)."""
    return _hasher().hash(password)


def verify_password_sync(password_hash: str, password: str) -> bool:
    """Constant-time verification; False for any mismatch or malformed hash."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError, ValueError):
        return False


async def hash_password(password: str) -> str:
    """Hash off the event loop."""
    return await asyncio.to_thread(hash_password_sync, password)


async def verify_password(password_hash: str, password: str) -> bool:
    """Verify off the event loop."""
    return await asyncio.to_thread(verify_password_sync, password_hash, password)


# A real hash to verify against when the account does not exist, so that response time
# does not reveal whether an email is registered.
@functools.cache
def dummy_hash() -> str:
    """A hash of a random password, computed once."""
    import secrets

    return hash_password_sync(secrets.token_urlsafe(16))
