"""Schemathesis against both services' own OpenAPI schemas: no generated request gets a 5xx.

The requests come from each service's /openapi.json (valid and invalid bodies, parameters and
headers), sent over HTTP to the real processes, authenticated: the app server with the admin API
key (on an app server of its own, so that what the fuzzer changes stays there), the inference
service with its bearer token. Examples are derandomized (the same on every run) and bounded per
operation, to keep the run short.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from servers import ADMIN_API_KEY, AppServer, InferenceServer, start_app

EXAMPLES_PER_OPERATION = 12
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,  # the same requests on every run: a failure here is reproducible
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
REQUEST_TIMEOUT_S = 120


def _token(ai_data_dir: Path) -> str:
    return (ai_data_dir / "secrets" / "inference_token").read_text().strip()


@pytest.fixture(scope="module")
def fuzzed_app(
    tmp_path_factory: pytest.TempPathFactory, ai_data_dir: Path, inference: InferenceServer
) -> Iterator[AppServer]:
    server = start_app(
        tmp_path_factory.mktemp("fuzz") / "data",
        inference_url=inference.url,
        OWNVOICE_INFERENCE_TOKEN=_token(ai_data_dir),
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app_schema(fuzzed_app: AppServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed_app.url}/openapi.json")


@pytest.fixture(scope="module")
def inference_schema(inference: InferenceServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{inference.url}/openapi.json")


app_api = schemathesis.pytest.from_fixture("app_schema")
inference_api = schemathesis.pytest.from_fixture("inference_schema")


@app_api.parametrize()
@FUZZ_SETTINGS
def test_the_app_server_never_answers_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {ADMIN_API_KEY}"},
        checks=[not_a_server_error],
        timeout=REQUEST_TIMEOUT_S,
    )


@inference_api.parametrize()
@FUZZ_SETTINGS
def test_the_inference_service_never_answers_a_server_error(
    case: schemathesis.Case, ai_data_dir: Path
) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_token(ai_data_dir)}"},
        checks=[not_a_server_error],
        timeout=REQUEST_TIMEOUT_S,
    )
