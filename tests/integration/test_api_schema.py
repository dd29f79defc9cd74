"""Bad input never gives a 500, and every answer fits the OpenAPI schema (spec service §2):
schemathesis generates requests for every operation of the app (valid and invalid ones, a
bounded number each) and checks each answer, on a real, migrated database. A customer's
routes are called with a customer's token, an operator's with an operator key, so the
requests get past sign-in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import schemathesis
from api_support import Api, bearer, make_api
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from slotqueue.api.app import create_app
from slotqueue.bootstrap import build, make_ticker
from slotqueue.settings import Settings

EXAMPLES = 25  # per operation and generation mode: the whole run stays within a minute or two
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance",
          "negative_data_rejection")
CONFIG = schemathesis.Config.from_dict({
    "generation": {"max-examples": EXAMPLES},
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
})


@pytest.fixture(scope="module")
def api(module_database_url: str) -> Iterator[Api]:
    """The app, rate limits out of the way, with a dispatcher that has run (so /readyz can
    answer 200: the handlers' clock stays at that run, the heartbeat fresh)."""
    with psycopg.connect(module_database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO locations (name) VALUES ('Kapolei'), ('Kaneohe')")
    fuzzing = Settings(database_url=module_database_url, rate_limit_per_ip="1000000/minute",
                       rate_limit_per_phone="1000000/minute", stripe_webhook_secret="whsec_fuzz",
                       twilio_auth_token="twilio_fuzz")  # signatures refused (403), not 503
    svc = build(fuzzing, module_database_url)
    ticker = make_ticker(fuzzing, module_database_url)
    made = make_api(svc)
    try:
        ticker.tick()
        ticker.finish(timeout=60)
        at = ticker.last_ok
        made.deps.ticker, made.deps.wall_clock = ticker, lambda: at
        yield made
    finally:
        made.deps.reads.close()
        svc.close()


@pytest.fixture(scope="module")
def headers(api: Api) -> dict[str, dict[str, str]]:
    """Credentials by the operation's tag (audience)."""
    token = api.join("808-555-0101", "+18085550101")["customer_token"]
    return {"customer": bearer(token), "operator": bearer(api.key("fuzz-ops", "operator"))}


@pytest.fixture(scope="module")
def schema(api: Api) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", api.client.app, config=CONFIG)


def _cases() -> list[tuple[str, str, GenerationMode]]:
    """Every operation of the app (its schema needs no database), with valid input, and
    with invalid input where it takes any."""
    paths = create_app(None).openapi()["paths"]  # type: ignore[arg-type]
    return [(method.upper(), path, mode) for path, item in paths.items()
            for method, spec in item.items()
            for mode in GenerationMode
            if mode is GenerationMode.POSITIVE or spec.get("parameters")
            or spec.get("requestBody")]


@pytest.mark.parametrize(("method", "path", "mode"), _cases())
def test_no_request_gets_a_500_or_an_answer_outside_the_schema(schema, headers, method, path,
                                                                 mode):
    operation = schema[path][method]
    sent = next((headers[t] for t in operation.tags or [] if t in headers), {})

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def each(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=sent)

    each()
