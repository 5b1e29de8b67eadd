-- Accounts: the API's principals.
CREATE TABLE accounts (
    sid          TEXT PRIMARY KEY,
    auth_token   TEXT NOT NULL,
    date_created INTEGER NOT NULL
);

-- Messages. `key` is the SID without its SM/MM prefix: time-ordered, so it is both the
-- primary key and the paging order (newest first = key descending).
CREATE TABLE messages (
    key                   TEXT PRIMARY KEY,
    prefix                TEXT NOT NULL,
    account_sid           TEXT NOT NULL,
    messaging_service_sid TEXT,
    from_addr             TEXT,
    to_addr               TEXT NOT NULL,
    body                  TEXT NOT NULL,
    status                TEXT NOT NULL,
    direction             TEXT NOT NULL,
    num_segments          INTEGER NOT NULL,
    num_media             INTEGER NOT NULL,
    price                 TEXT,
    price_unit            TEXT NOT NULL,
    error_code            INTEGER,
    error_message         TEXT,
    date_created          INTEGER NOT NULL,
    date_updated          INTEGER NOT NULL,
    date_sent             INTEGER,
    options               TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX messages_by_account ON messages (account_sid, key);
CREATE INDEX messages_by_to      ON messages (account_sid, to_addr, key);
CREATE INDEX messages_by_from    ON messages (account_sid, from_addr, key);
-- Small: only messages still moving through the lifecycle (restart recovery).
CREATE INDEX messages_unfinished ON messages (key)
    WHERE status IN ('queued', 'sending', 'sent', 'accepted', 'scheduled');

-- Every status change of a message, in order.
CREATE TABLE message_events (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL,
    at          INTEGER NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    error_code  INTEGER
);
CREATE INDEX message_events_by_key ON message_events (key, id);
