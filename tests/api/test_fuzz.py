"""A schema-driven fuzz of the whole API, on both backends.

schemathesis generates requests for every operation from the OpenAPI document, valid ones and
invalid ones, and every answer must be what the document promises: no server error, a status
the operation lists, its content type, a body that matches its schema, its required headers.

The requests go through the `client` fixture (in-process ASGI, one per backend) on the test's
own event loop, which owns the runtime's database connections: the test is a plain function
(as hypothesis wants) that drives that loop for each request. An operation for end users is
called with a token the app mints just before (the fuzz rotates the key and may end the old
one's overlap at once), any other with the app's key and secret. Data seeded first lets about
half of the generated paths and notifications name things that exist, so the fuzz reaches
past the 404s. The budget is fixed and the generation derandomized, so a run is reproducible;
HERALD_FUZZ_EXAMPLES=500 digs deeper by hand.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, GenerationMode
from schemathesis import Case as AnyCase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.harness import Bearer, Herald, end_user_token

Case = AnyCase[Any]
Operation = APIOperation[Any, Any, Any, Any]
EXAMPLES = int(os.environ.get("HERALD_FUZZ_EXAMPLES", "40"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    # Generated API requests are large and often rejected by the schema's own filters.
    suppress_health_check=list(HealthCheck),
)
TEMPLATE = {
    "channels": {
        "email": {"subject": "Hello", "text": "Hello there"},
        "sms": {"text": "Hello"},
        "push": {"title": "Hello", "body": "Hello there"},
    }
}


@pytest.fixture
async def loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


@pytest.fixture
async def seed(herald: Herald) -> dict[str, str]:
    """Path values that exist, by parameter name."""
    await herald.user("fuzz-user")
    await herald.template("fuzz-template", TEMPLATE)
    device = await herald.client.post("/v1/users/fuzz-user/devices", json={"platform": "ios", "token": "ab" * 32})
    note = await herald.notify(user_id="fuzz-user", template="fuzz-template", data={})
    assert device.status_code == 201 and note.status_code == 202, (device.text, note.text)
    return {
        "user_id": "fuzz-user",
        "key": "fuzz-template",
        "device_id": device.json()["id"],
        "notification_id": note.json()["id"],
    }


def steer(case: Case, data: st.DataObject, seed: dict[str, str]) -> None:
    """Point some generated paths and notifications at the seeded user and template."""
    for name in case.path_parameters or {}:
        if name in seed and data.draw(st.booleans()):
            case.path_parameters[name] = seed[name]
    body = case.body if isinstance(case.body, dict) else {}
    items = body.get("notifications") if case.path.endswith("/batch") else [body]
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and data.draw(st.booleans()):
            item.pop("recipient", None)
            item["user_id"] = seed["user_id"]
            item["template"] = seed["key"]


def for_end_users(op: Operation) -> bool:
    return {"end_user": []} in (op.definition.raw.get("security") or [])


def send(
    loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient, case: Case, seed: dict[str, str]
) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url))
    kwargs.pop("cookies", None)
    if "data" in kwargs:  # requests' name for a raw body
        kwargs["content"] = kwargs.pop("data")
    if for_end_users(case.operation):
        kwargs["auth"] = Bearer(loop.run_until_complete(end_user_token(client, seed["user_id"])))
    return loop.run_until_complete(client.request(**kwargs))


def fuzz(op: Operation, mode: GenerationMode, run: Any) -> str | None:
    """Run one operation's fuzz; what schemathesis found, if anything."""
    try:
        run()
    except Unsatisfiable:
        return None  # nothing in this operation can be made invalid
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis reports a FailureGroup
        return f"{op.label} [{mode.value}]: {exc}"
    return None


def test_every_answer_is_documented(
    client: httpx.AsyncClient, seed: dict[str, str], loop: asyncio.AbstractEventLoop
) -> None:
    schema = schemathesis.openapi.from_dict(loop.run_until_complete(client.get("/openapi.json")).json())
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    # Deletions last, the most specific first, so the seeded data lives as long as possible.
    operations.sort(key=lambda op: (op.method.upper() == "DELETE", -len(op.path)))
    assert len(operations) > 20 and any(for_end_users(op) for op in operations)
    failures: list[str] = []
    # A live stream never ends, so the fuzz would wait on it for ever: tests/feed covers it.
    for op in (op for op in operations if not op.path.endswith("/stream")):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @FUZZ
            @given(case=op.as_strategy(generation_mode=mode), data=st.data())
            def run(case: Case, data: st.DataObject) -> None:
                steer(case, data, seed)
                case.validate_response(send(loop, client, case, seed), checks=CHECKS)

            found = fuzz(op, mode, run)
            if found:
                failures.append(found)
    assert not failures, "\n\n".join(failures)
