"""What the HTTP API logs (issue 9, security): customer tokens, API keys and codes never reach
a log line; phone numbers only masked; a request's line names its route template, never its
path. Logging is configured as `serve` configures it (JSON lines on stderr), on a real
database."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from uuid import UUID

import pytest
from api_support import Api, bearer, make_api
from fastapi import APIRouter

from slotqueue import logs

ANA, ANA_E164 = "808-555-0101", "+18085550101"
RAW_PHONES = ("8085550101", "808-555-0101", "555-0101")
MASKED = "+1 808 •••-0101"


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Everything logged, formatted as production formats it (logs.configure("json"))."""
    root = logging.getLogger()
    kept_handlers, kept_level = root.handlers[:], root.level
    named = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    logs.configure("json")
    yield out
    root.handlers[:], root.level = kept_handlers, kept_level
    for name, level in named.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def api(service, db) -> Iterator[Api]:
    db.execute("INSERT INTO locations (name) VALUES ('Kapolei')")
    made = make_api(service)
    yield made
    made.deps.reads.close()


def _assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret reached the log: {secret[:6]}…"
    for raw in RAW_PHONES:
        assert raw not in text, f"an unmasked phone number reached the log: {raw}"


def test_tokens_keys_and_codes_never_reach_the_log(api, log_lines):
    api.client.post("/v1/verifications", json={"phone": ANA})
    code = api.last_code(ANA_E164)
    joined = api.client.post("/v1/customers", json={"phone": ANA, "code": code},
                             headers={"Idempotency-Key": "join-1"})
    token = joined.json()["customer_token"]
    operator, auditor = api.key("ops-ana", "operator"), api.key("audit-bo", "auditor")
    api.client.get("/v1/me", headers=bearer(token))
    api.client.put("/v1/me/windows", headers=bearer(token),
                   json={"horizon": "forever", "blocks": ["early"]})  # refused: 422
    api.client.get("/v1/me", headers=bearer(operator))  # wrong role: 403
    api.client.get("/v1/me", headers=bearer(token[::-1]))  # unknown: 401
    api.client.get(f"/v1/me?token={token}")  # a secret in a query string
    for key in (operator, auditor):
        api.client.get("/v1/me/history", headers=bearer(key))
    api.client.post("/v1/customers", json={"phone": ANA, "code": code},
                    headers={"Idempotency-Key": "join-1"})  # replayed: the token again
    text = log_lines.getvalue()
    assert text.count('"event": "request"') >= 9  # the requests were logged …
    _assert_clean(text, token, operator, auditor, code, token[::-1])  # … and nothing secret


def test_a_request_line_names_the_route_template_never_the_path(service, log_lines):
    probe = APIRouter()

    @probe.get("/v1/probe/{who}/{entry_id}")
    def echo(who: str, entry_id: UUID) -> dict[str, str]:
        return {"ok": "yes"}

    api = make_api(service, routers=(probe,))
    try:
        assert api.client.get(f"/v1/probe/{ANA_E164}/3f1c4a52-0000-4000-8000-000000000001"
                              ).status_code == 200
        api.client.get(f"/v1/nowhere/{ANA_E164}/{ANA}")
    finally:
        api.deps.reads.close()
    lines = [line for line in log_lines.getvalue().splitlines() if '"request"' in line]
    assert any('"route": "/v1/probe/{who}/{entry_id}"' in line for line in lines)
    assert any('"route": "unmatched"' in line for line in lines)
    assert not any("3f1c4a52" in line for line in lines)
    _assert_clean(log_lines.getvalue())


def test_an_unexpected_error_quoting_a_phone_logs_it_masked(api, log_lines, monkeypatch):
    def failing(phone, *_args):
        raise RuntimeError(f"could not record a code for {phone} ({ANA})")

    monkeypatch.setattr(api.deps.svc.app, "send_code", failing)
    answer = api.client.post("/v1/verifications", json={"phone": ANA})
    assert answer.status_code == 500
    assert ANA_E164 not in answer.text  # the caller gets no detail either
    text = log_lines.getvalue()
    [failed] = [line for line in text.splitlines() if '"request failed"' in line]
    assert '"route": "/v1/verifications"' in failed
    assert MASKED in failed
    _assert_clean(text)
