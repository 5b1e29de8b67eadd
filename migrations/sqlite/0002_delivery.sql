-- The carrier's id for a submitted message, to match delivery receipts back to it.
ALTER TABLE messages ADD COLUMN carrier_id TEXT;
CREATE INDEX messages_by_carrier_id ON messages (carrier_id) WHERE carrier_id IS NOT NULL;

-- Status callbacks: a durable outbox. A row is written in the same transaction as the status
-- change it reports, so a restart loses none; rows of one message are sent in id order.
CREATE TABLE callbacks (
    id                INTEGER PRIMARY KEY,
    key               TEXT NOT NULL,
    account_sid       TEXT NOT NULL,
    url               TEXT NOT NULL,
    method            TEXT NOT NULL,
    params            TEXT NOT NULL,
    idempotency_token TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    state             TEXT NOT NULL DEFAULT 'pending'
);
CREATE INDEX callbacks_by_key ON callbacks (key, id);
CREATE INDEX callbacks_pending ON callbacks (id) WHERE state = 'pending';

-- Every attempt to deliver a callback.
CREATE TABLE callback_attempts (
    id          INTEGER PRIMARY KEY,
    callback_id INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    http_status INTEGER,
    latency_ms  INTEGER NOT NULL,
    error       TEXT
);
CREATE INDEX callback_attempts_by_callback ON callback_attempts (callback_id, id);
