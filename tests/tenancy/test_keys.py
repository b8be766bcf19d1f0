from __future__ import annotations

from ragplatform.tenancy import keys


def test_generated_keys_are_prefixed_unique_and_hashed() -> None:
    a, b = keys.generate_key(), keys.generate_key()
    assert a.plaintext.startswith("rag_") and len(a.plaintext) >= 40
    assert a.plaintext != b.plaintext
    assert a.key_hash == keys.hash_key(a.plaintext) and a.plaintext not in a.key_hash
    assert a.prefix == a.plaintext[:12]


def test_verify_is_exact() -> None:
    material = keys.generate_key()
    assert keys.verify(material.plaintext, material.key_hash)
    assert not keys.verify(material.plaintext + "x", material.key_hash)


def test_looks_like_key() -> None:
    assert keys.looks_like_key(keys.generate_key().plaintext)
    assert not keys.looks_like_key("sk-" + "a" * 40)
    assert not keys.looks_like_key("rag_short")
    assert not keys.looks_like_key("rag_" + "é" * 30)
