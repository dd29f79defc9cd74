-- Service §2.1: who may call the HTTP API. Credentials are a projection of Credential events
-- (only SHA-256 hashes of the secrets); the idempotency records are the HTTP layer's own
-- short-lived cache of first responses (kept encrypted with a key only the caller holds).

create table if not exists slotqueue.credentials (
  id uuid primary key,
  secret_hash text not null unique,
  role text not null,
  subject text not null,
  issued_at timestamptz not null,
  issued_by text null,
  revoked_at timestamptz null
);
create index if not exists credentials_role_subject_idx on slotqueue.credentials (role, subject);

create table if not exists slotqueue.http_idempotency (
  principal text not null,
  key_hash text not null,
  route text not null,
  body_hash text not null,
  status int null,
  response bytea null,
  created_at timestamptz not null default now(),
  primary key (principal, key_hash)
);
create index if not exists http_idempotency_created_at_idx
  on slotqueue.http_idempotency (created_at);
