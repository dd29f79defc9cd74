"""`Idempotency-Key` on POSTs (spec service §2): the same key with the same body returns the
first response; with another body, 409; while the first is still running, 409. Only the first
success is kept, for 24 hours, encrypted with a key derived from the Idempotency-Key itself,
so a first response that shows a secret once (a customer token) is not readable from the
database without the caller's key. Scoped to the caller (anonymous callers share one scope).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

from cryptography.fernet import Fernet
from psycopg_pool import ConnectionPool

from slotqueue.api.errors import Problem
from slotqueue.api.output import Json, ok, plain

Handler = Callable[[], tuple[int, Any]]
KEEP = "24 hours"
MAX_KEY = 200


def _cipher(key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"sq-idem-box:" + key.encode())
                                           .digest()))


class Idempotency:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def run(self, key: str | None, scope: str, route: str, body: bytes,
            handler: Handler) -> Json:
        if key is None:
            status, payload = handler()
            return ok(payload, status)
        if not key.strip() or len(key) > MAX_KEY:
            raise Problem(400, "Idempotency-Key must be 1 to 200 characters",
                          [{"field": "Idempotency-Key", "message": "1 to 200 characters"}])
        key_hash = hashlib.sha256(b"sq-idem-key:" + key.encode()).hexdigest()
        body_hash = hashlib.sha256(route.encode() + b"\0" + body).hexdigest()
        replay = self._claim(scope, key_hash, route, body_hash)
        if replay is not None:
            status, blob = replay
            return ok(json.loads(_cipher(key).decrypt(blob)), status,
                      headers={"Idempotent-Replayed": "true"})
        try:
            status, payload = handler()
        except BaseException:
            self._release(scope, key_hash)
            raise
        encoded = plain(payload)
        blob = _cipher(key).encrypt(json.dumps(encoded).encode())
        with self.pool.connection() as conn:
            conn.execute("UPDATE slotqueue.http_idempotency SET status = %s, response = %s "
                         "WHERE principal = %s AND key_hash = %s",
                         (status, blob, scope, key_hash))
        return ok(encoded, status)

    def _claim(self, scope: str, key_hash: str, route: str, body_hash: str
               ) -> tuple[int, bytes] | None:
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM slotqueue.http_idempotency WHERE created_at < now() - "
                         f"interval '{KEEP}'")
            taken = conn.execute(
                "INSERT INTO slotqueue.http_idempotency (principal, key_hash, route, body_hash) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                (scope, key_hash, route, body_hash)).fetchone()
            if taken:
                return None
            row = conn.execute("SELECT body_hash, status, response FROM slotqueue."
                               "http_idempotency WHERE principal = %s AND key_hash = %s",
                               (scope, key_hash)).fetchone()
        if row is None:
            raise Problem(409, "the request with this Idempotency-Key is still running")
        if row[0] != body_hash:
            raise Problem(409, "this Idempotency-Key was used with another request body")
        if row[1] is None:
            raise Problem(409, "the request with this Idempotency-Key is still running")
        return int(row[1]), bytes(row[2])

    def _release(self, scope: str, key_hash: str) -> None:
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM slotqueue.http_idempotency WHERE principal = %s AND "
                         "key_hash = %s AND status IS NULL", (scope, key_hash))
