"""Fixtures: the official OpenAI SDK driving the real app, and an ingested handbook."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest

from tests.documents_support import create_collection, upload, wait_for
from tests.platform import Api, TenantFixture

BASE_URL = "http://testserver/v1"
HANDBOOK = {
    "remote.txt": b"Employees may work from home up to three days per week with manager approval.",
    "printer.txt": b"The Okonkwo printer on floor two jams when loaded with glossy paper.",
    "lunch.txt": b"The cafeteria serves vegetarian lunch options every weekday at noon.",
    "security.txt": b"Badges must be worn visibly at all times inside the building.",
}
Sdk = Callable[[str], openai.OpenAI]


def ingest(api: Api, token: str, name: str, files: dict[str, bytes]) -> str:
    """A new collection holding ``files``, every document ready; its id."""
    collection = create_collection(api.client, token, name)
    response = upload(api.client, token, collection, files)
    assert response.status_code == 202, response.text
    for doc in response.json()["documents"]:
        assert wait_for(api.client, token, doc["id"])["status"] == "ready"
    return collection


@pytest.fixture
def sdk(api: Api) -> Sdk:
    """An unmodified ``openai.OpenAI`` client for a platform credential, through the ASGI app."""

    def make(key: str) -> openai.OpenAI:
        return openai.OpenAI(api_key=key, base_url=BASE_URL, http_client=api.client, max_retries=0)

    return make


@pytest.fixture
def handbook(api: Api, acme: TenantFixture) -> str:
    """acme's "handbook" collection with four one-line documents."""
    return ingest(api, acme.owner_key, "handbook", HANDBOOK)
