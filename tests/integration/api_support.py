"""The HTTP API in-process (FastAPI's test client) on the test's real database, with the
console SMS provider writing into a buffer the test reads codes from."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from slotqueue.adapters.messaging import Console
from slotqueue.api.app import create_app
from slotqueue.bootstrap import api_deps


@dataclass
class Api:
    client: TestClient
    sms_out: io.StringIO
    deps: Any

    def texts(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.sms_out.getvalue().splitlines()]

    def last_code(self, phone: str) -> str:
        for text in reversed(self.texts()):
            if text["to"] == phone:
                return re.search(r"\b(\d{6})\b", text["body"]).group(1)  # type: ignore[union-attr]
        raise AssertionError(f"no code sent to {phone}")

    def join(self, phone: str, e164: str, email: str | None = None) -> dict[str, Any]:
        assert self.client.post("/v1/verifications", json={"phone": phone}).status_code == 202
        body = {"phone": phone, "code": self.last_code(e164), **({"email": email} if email
                                                                   else {})}
        answer = self.client.post("/v1/customers", json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def key(self, name: str, role: str) -> str:
        svc = self.deps.svc
        secret = svc.app.create_api_key(name, role, svc.clock.now(), "test")
        svc.catch_up()
        return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def make_api(service: Any, routers: tuple[Any, ...] = ()) -> Api:
    out = io.StringIO()
    deps = api_deps(service, sms=Console("sms", out))
    return Api(TestClient(create_app(deps, routers), raise_server_exceptions=False), out, deps)
