"""API key material: generation, hashing and constant-time verification."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "rag_"
_DISPLAY_PREFIX_LEN = 12  # "rag_" + 8 characters, shown in listings and used for lookup


@dataclass(frozen=True)
class KeyMaterial:
    """A new key: ``plaintext`` is shown once, only ``prefix`` and ``key_hash`` are stored."""

    plaintext: str
    prefix: str
    key_hash: str


def hash_key(plaintext: str) -> str:
    """SHA-256 of the key: keys carry 256 bits of entropy, so a fast hash is sufficient."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def display_prefix(plaintext: str) -> str:
    """The non-secret leading part stored for lookup and listings."""
    return plaintext[:_DISPLAY_PREFIX_LEN]


def material_for(plaintext: str) -> KeyMaterial:
    """Stored material for an existing plaintext key (e.g. ``RAG_ADMIN_API_KEY``)."""
    return KeyMaterial(plaintext, display_prefix(plaintext), hash_key(plaintext))


def generate_key() -> KeyMaterial:
    """A fresh ``rag_``-prefixed key with 256 bits of entropy."""
    return material_for(KEY_PREFIX + secrets.token_urlsafe(32))


def looks_like_key(token: str) -> bool:
    """Cheap shape check before any database lookup."""
    return token.startswith(KEY_PREFIX) and 24 <= len(token) <= 256 and token.isascii()


def verify(plaintext: str, key_hash: str) -> bool:
    """Constant-time comparison of a presented key against a stored hash."""
    return hmac.compare_digest(hash_key(plaintext), key_hash)
