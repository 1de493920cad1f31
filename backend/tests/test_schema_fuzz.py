"""Schemathesis against both services' own OpenAPI schemas: no generated request gets a 5xx.

The requests come from each service's /openapi.json (valid and invalid bodies, parameters and
headers), sent over HTTP to the real processes, authenticated: the app server with the admin API
key (on an app server of its own, so that what the fuzzer changes stays there), the inference
service with its bearer token. Examples are derandomized (the same on every run) and bounded per
operation, to keep the run short (OWNVOICE_FUZZ_EXAMPLES=50 for a deeper look).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import BaseModel
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from servers import ADMIN_API_KEY, AppServer, InferenceServer, serving

# Per operation and mode (valid, then invalid requests); raise it for a deeper one-off run.
EXAMPLES_PER_OPERATION = int(os.environ.get("OWNVOICE_FUZZ_EXAMPLES", "5"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,  # the same requests on every run: a failure here is reproducible
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
REQUEST_TIMEOUT_S = 120


def server_errors(schema_url: str, headers: dict[str, str]) -> list[str]:
    """Every operation of the schema, valid and invalid requests: what got a 5xx, with a curl line.

    (Schemathesis' own pytest plumbing for a schema behind a fixture does not run on this pytest,
    so the operations are walked here, one Hypothesis run per operation and mode.)"""
    schema = schemathesis.openapi.from_url(schema_url)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in GenerationMode:

            @given(case=operation.as_strategy(generation_mode=mode))
            @FUZZ_SETTINGS
            def request(case: schemathesis.Case) -> None:
                case.call_and_validate(
                    headers=headers, checks=[not_a_server_error], timeout=REQUEST_TIMEOUT_S
                )

            try:
                request()
            except Unsatisfiable:
                pass  # no invalid request exists (no parameters or body to get wrong)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected: one run shows all
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures


class Item(BaseModel):
    name: str


def test_a_server_error_is_found_and_reported() -> None:
    """The harness itself: an API that fails on names longer than three characters is caught."""
    app = FastAPI()

    @app.post("/items")
    def create(item: Item) -> dict:
        if len(item.name) > 3:
            raise RuntimeError("a bug")
        return {"name": item.name}

    with serving(app) as url:
        failures = server_errors(f"{url}/openapi.json", {})
    assert len(failures) == 1 and failures[0].startswith("POST /items (positive)"), failures
    assert "Server error" in failures[0] and "curl" in failures[0]


@pytest.fixture(scope="module")
def fuzzed_app(app_on_inference: Callable[..., AppServer]) -> AppServer:
    return app_on_inference("fuzz")


def test_the_app_server_never_answers_a_server_error(fuzzed_app: AppServer) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_API_KEY}"}
    failures = server_errors(f"{fuzzed_app.url}/openapi.json", admin)
    assert not failures, "\n\n".join(failures)


def test_the_inference_service_never_answers_a_server_error(
    inference: InferenceServer,
) -> None:
    bearer = {"Authorization": f"Bearer {inference.token}"}
    failures = server_errors(f"{inference.url}/openapi.json", bearer)
    assert not failures, "\n\n".join(failures)
