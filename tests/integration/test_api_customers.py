"""Customers over HTTP (spec service §2.1, §2.2) on a real database: proving a phone, joining,
their own place, windows and locations, errors as problem+json naming the field."""

from __future__ import annotations

import pytest
from api_support import bearer, make_api

ANA, ANA_E164 = "808-555-0101", "+18085550101"


@pytest.fixture
def api(service, db):
    db.execute("INSERT INTO locations (name) VALUES ('Kapolei'), ('Kaneohe')")
    made = make_api(service)
    yield made
    made.deps.reads.close()


def test_a_customer_proves_their_phone_joins_and_sees_their_place(api):
    sent = api.client.post("/v1/verifications", json={"phone": ANA})
    assert sent.status_code == 202
    assert sent.json()["sent_to"] == "+1 808 •••-0101"
    assert sent.json()["expires_at"].endswith("Z")
    [text] = api.texts()
    assert (text["channel"], text["to"], text["type"]) == ("sms", ANA_E164, "verification")
    joined = api.client.post("/v1/customers", json={"phone": ANA, "code": api.last_code(ANA_E164),
                                                    "email": "ana@example.com"})
    assert joined.status_code == 201
    token = joined.json()["customer_token"]
    me = api.client.get("/v1/me", headers=bearer(token)).json()
    assert (me["customer_id"], me["email"]) == (joined.json()["customer_id"], "ana@example.com")
    assert (me["entry"]["status"], me["entry"]["rank"]) == ("queued", 1)
    assert me["entry"]["joined_at"].endswith("Z")
    assert me["entry"]["joined_at_local"].endswith("HST")


def test_a_code_works_once_and_a_wrong_one_is_refused_naming_the_field(api):
    api.client.post("/v1/verifications", json={"phone": ANA})
    code = api.last_code(ANA_E164)
    wrong = "000000" if code != "000000" else "111111"
    refused = api.client.post("/v1/customers", json={"phone": ANA, "code": wrong})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"] == [{"field": "code", "message": "the code is not right"}]
    assert api.client.post("/v1/customers", json={"phone": ANA, "code": code}).status_code == 201
    again = api.client.post("/v1/customers", json={"phone": ANA, "code": code})
    assert again.status_code == 409  # used


def test_five_wrong_tries_spend_a_code(api):
    api.client.post("/v1/verifications", json={"phone": ANA})
    code = api.last_code(ANA_E164)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert api.client.post("/v1/customers", json={"phone": ANA, "code": wrong}
                               ).status_code == 422
    spent = api.client.post("/v1/customers", json={"phone": ANA, "code": code})
    assert spent.status_code == 409
    assert "tries are spent" in spent.json()["detail"]


def test_a_fourth_code_within_ten_minutes_is_refused_with_retry_after(api):
    for _ in range(3):
        assert api.client.post("/v1/verifications", json={"phone": ANA}).status_code == 202
    refused = api.client.post("/v1/verifications", json={"phone": ANA})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 600


@pytest.mark.parametrize(("body", "field"), [
    ({"phone": "not a phone"}, "phone"),
    ({"phone": ""}, "phone"),
    ({}, "phone"),
    ({"phone": ANA, "extra": 1}, "extra"),
])
def test_bad_input_is_a_422_naming_the_field(api, body, field):
    answer = api.client.post("/v1/verifications", json=body)
    assert answer.status_code == 422
    assert field in [e["field"] for e in answer.json()["errors"]]


def test_the_same_idempotency_key_returns_the_first_answer_and_another_body_a_409(api):
    api.client.post("/v1/verifications", json={"phone": ANA})
    body = {"phone": ANA, "code": api.last_code(ANA_E164)}
    headers = {"Idempotency-Key": "join-ana-1"}
    first = api.client.post("/v1/customers", json=body, headers=headers)
    second = api.client.post("/v1/customers", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    other = api.client.post("/v1/customers", json={**body, "email": "x@example.com"},
                            headers=headers)
    assert other.status_code == 409


def test_without_a_token_a_customer_endpoint_answers_401_and_a_key_403(api):
    assert api.client.get("/v1/me").status_code == 401
    assert api.client.get("/v1/me", headers=bearer("nonsense")).status_code == 401
    operator = api.key("ops", "operator")
    assert api.client.get("/v1/me", headers=bearer(operator)).status_code == 403


def test_a_customer_chooses_windows_and_locations_by_name_and_pauses(api):
    token = api.join(ANA, ANA_E164)["customer_token"]
    chosen = api.client.put("/v1/me/windows", headers=bearer(token),
                            json={"horizon": "w4", "blocks": ["early"], "weekdays": [1, 3]})
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["windows"]["weekdays"] == [1, 3]
    bad = api.client.put("/v1/me/windows", headers=bearer(token),
                         json={"horizon": "forever", "blocks": ["early"]})
    assert bad.status_code == 422
    assert "forever" in bad.json()["detail"]
    places = api.client.put("/v1/me/locations", headers=bearer(token),
                            json={"location_ids": ["kapolei"]})
    assert [loc["name"] for loc in places.json()["locations"]] == ["Kapolei"]
    unknown = api.client.put("/v1/me/locations", headers=bearer(token),
                             json={"location_ids": ["Hilo"]})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "location_ids"
    paused = api.client.post("/v1/me/pause", headers=bearer(token))
    assert paused.json()["entry"]["status"] == "paused"
    assert api.client.post("/v1/me/pause", headers=bearer(token)).status_code == 409
    history = api.client.get("/v1/me/history", headers=bearer(token)).json()
    assert [e["what"] for e in history["events"]][-1] == "Your place was paused."
