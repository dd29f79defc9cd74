-- Service §5: the dashboard's sign-in sessions, the HTTP layer's own state (like the
-- idempotency records), not a projection: a row per signed-in browser, found by the SHA-256
-- hash of its cookie's opaque token. A session lives while the API key it was opened with is
-- not revoked (joined on the key's hash) and until it expires or is signed out (deleted).

create table if not exists slotqueue.dashboard_sessions (
  token_hash text primary key,
  key_hash text not null,
  csrf_token text not null,
  notice text null,  -- what the last action did, shown once by the next page
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);
create index if not exists dashboard_sessions_expires_at_idx
  on slotqueue.dashboard_sessions (expires_at);
