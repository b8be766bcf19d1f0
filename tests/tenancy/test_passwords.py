"""The password strength policy and argon2id hashing."""

from __future__ import annotations

import asyncio

import pytest

from ragplatform.errors import InvalidInput
from ragplatform.tenancy.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    check_strength,
    dummy_hash,
    hash_password,
    hash_password_sync,
    verify_password,
    verify_password_sync,
)
from tests.platform import STRONG_PASSWORD

TOO_SHORT = "at least 12 characters"
TOO_LONG = "at most 256 characters"
TOO_EASY = "too easy to guess"
HAS_EMAIL = "must not contain the email"
ONE_CLASS = "must mix at least two"


def _refused(password: str, fragment: str, *, email: str | None = None) -> None:
    with pytest.raises(InvalidInput) as info:
        check_strength(password, email=email)
    assert fragment in info.value.detail
    assert info.value.code == "invalid_input"
    if len(password) >= 8:
        assert password not in info.value.detail  # the message never echoes the password


# -- strength policy ---------------------------------------------------------------------------


def test_limits() -> None:
    assert (MIN_LENGTH, MAX_LENGTH) == (12, 256)


@pytest.mark.parametrize("password", ["", "a", "Ab1-", "Abcdef-1234", "Zx9!Zx9!Zx9"])
def test_too_short_is_refused(password: str) -> None:
    assert len(password) < MIN_LENGTH
    _refused(password, TOO_SHORT)


def test_length_is_checked_first() -> None:
    # Short and also common/one-class/containing the email: the length message wins.
    _refused("aaaa", TOO_SHORT, email="aaaa@example.com")


def test_exactly_min_length_is_accepted() -> None:
    password = "Abcdefgh1234"
    assert len(password) == MIN_LENGTH
    check_strength(password)


def test_too_long_is_refused() -> None:
    _refused(("Abcde1-" * 40)[: MAX_LENGTH + 1], TOO_LONG)
    _refused("Ab1-xyz" * 1000, TOO_LONG)


def test_exactly_max_length_is_accepted() -> None:
    password = ("Abcde1-" * 40)[:MAX_LENGTH]
    assert len(password) == MAX_LENGTH
    check_strength(password)


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "Password1234",
        "PASSWORD1234",
        "123456789012",
        "qwertyuiopas",
        "QwertyUiopAs",
        "passwordpassword",
        "letmein12345",
        "Administrator",
        "ChangeMeChangeMe",
    ],
)
def test_common_passwords_are_refused_case_insensitively(password: str) -> None:
    _refused(password, TOO_EASY)


@pytest.mark.parametrize(
    "password",
    [
        "aaaaaaaaaaaa",
        "aaaaBBBB1111",
        "abababababab12",
        "!!!!????1111aaaa",
        "Aa1!" * 10,  # four distinct characters, however long
    ],
)
def test_too_few_distinct_characters_are_refused(password: str) -> None:
    assert len(set(password)) < 5
    _refused(password, TOO_EASY)


def test_five_distinct_characters_are_enough() -> None:
    check_strength("Aa1!bAa1!bAa")


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("johnsmith@example.com", "johnsmith-2024!"),
        ("johnsmith@example.com", "My-JohnSmith-99"),
        ("JohnSmith@Example.com", "xx-johnsmith-42"),
        ("dave@example.com", "I-am-Dave-1987"),
    ],
)
def test_password_containing_the_email_local_part_is_refused(email: str, password: str) -> None:
    _refused(password, HAS_EMAIL, email=email)
    # Without an email to compare against, the same password is fine.
    check_strength(password)


def test_short_email_local_part_is_not_checked() -> None:
    # "bob" (3 characters) is too short to be a meaningful match.
    check_strength("Bob-is-great-42", email="bob@example.com")


def test_email_domain_alone_is_not_refused() -> None:
    check_strength("example-Rocks-2024", email="alice@example.com")


@pytest.mark.parametrize(
    "password",
    [
        "abcdefghijklmn",
        "ABCDEFGHIJKLMN",
        "73829104657381",
        "!@#$%^&*()_+-=",
        "abcdefghijklmnopqrs",  # 19: one short of the passphrase exemption
    ],
)
def test_single_character_class_under_20_is_refused(password: str) -> None:
    assert len(password) < 20
    _refused(password, ONE_CLASS)


@pytest.mark.parametrize(
    "password",
    [
        "abcdefghijklmnopqrst",  # exactly 20
        "correcthorsebatterystaple",
        "CORRECTHORSEBATTERYSTAPLE",
        "73829104657381920465",
    ],
)
def test_single_character_class_of_20_or_more_is_accepted(password: str) -> None:
    assert len(password) >= 20
    check_strength(password)


@pytest.mark.parametrize(
    "password",
    [
        STRONG_PASSWORD,
        "Tr0ub4dor&3xyz",
        "purple monkey dishwasher",
        "lowercase-with-dashes",
        "Pässwörd-Ünïcode-7",
        "🔒 emoji Passphrase 🔑",
        "sixteenCharsOnly",
    ],
)
def test_strong_passwords_are_accepted(password: str) -> None:
    check_strength(password, email="someone@example.com")


# -- hashing ----------------------------------------------------------------------------------


def test_hash_is_argon2id_salted_and_verifies() -> None:
    first = hash_password_sync(STRONG_PASSWORD)
    second = hash_password_sync(STRONG_PASSWORD)
    assert first.startswith("$argon2id$")
    assert first != second  # a random salt per hash
    assert STRONG_PASSWORD not in first
    assert len(first) <= 255  # fits users.password_hash
    assert verify_password_sync(first, STRONG_PASSWORD)
    assert verify_password_sync(second, STRONG_PASSWORD)


@pytest.mark.parametrize(
    "attempt",
    [
        STRONG_PASSWORD + " ",
        STRONG_PASSWORD.lower(),
        STRONG_PASSWORD[:-1],
        "",
        "x" * 1000,
    ],
)
def test_wrong_password_does_not_verify(attempt: str) -> None:
    assert not verify_password_sync(hash_password_sync(STRONG_PASSWORD), attempt)


def test_unicode_passwords_round_trip() -> None:
    password = "Grüße-aus-Köln-🌧️"
    hashed = hash_password_sync(password)
    assert verify_password_sync(hashed, password)
    assert not verify_password_sync(hashed, "Grusse-aus-Koln-")


@pytest.mark.parametrize(
    "bad_hash",
    [
        "",
        "not-a-hash",
        "$argon2id$",
        "$argon2id$v=19$m=65536,t=3,p=4$garbage",
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$",
        "$2b$12$" + "a" * 53,  # a bcrypt hash
        "5f4dcc3b5aa765d61d8327deb882cf99",  # a bare MD5
        "é",
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$é",
    ],
)
def test_malformed_hash_is_false_not_an_error(bad_hash: str) -> None:
    assert verify_password_sync(bad_hash, STRONG_PASSWORD) is False


def test_truncated_real_hash_is_false() -> None:
    hashed = hash_password_sync(STRONG_PASSWORD)
    assert verify_password_sync(hashed[:-10], STRONG_PASSWORD) is False


def test_dummy_hash_is_a_real_cached_hash_that_matches_nothing() -> None:
    first = dummy_hash()
    assert first.startswith("$argon2id$")
    assert dummy_hash() is first
    assert not verify_password_sync(first, STRONG_PASSWORD)
    assert not verify_password_sync(first, "")


# -- async wrappers ---------------------------------------------------------------------------


async def test_async_hash_and_verify() -> None:
    hashed = await hash_password(STRONG_PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert await verify_password(hashed, STRONG_PASSWORD) is True
    assert await verify_password(hashed, "Wrong-Horse-42-battery") is False
    assert await verify_password("not-a-hash", STRONG_PASSWORD) is False
    # Interchangeable with the sync functions.
    assert verify_password_sync(hashed, STRONG_PASSWORD)
    assert await verify_password(hash_password_sync("Other-Secret-99"), "Other-Secret-99")


async def test_async_wrappers_run_concurrently_and_keep_results_apart() -> None:
    secrets_ = [f"Concurrent-{i}-Password!" for i in range(3)]
    hashes = await asyncio.gather(*(hash_password(s) for s in secrets_))
    assert len(set(hashes)) == 3
    checks = await asyncio.gather(*(verify_password(h, s) for h in hashes for s in secrets_))
    expected = [i == j for i in range(3) for j in range(3)]
    assert checks == expected
