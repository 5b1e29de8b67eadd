-- Subaccounts, account status and auth-token rotation. A main account owns itself.
ALTER TABLE accounts ADD COLUMN owner_account_sid TEXT;
ALTER TABLE accounts ADD COLUMN friendly_name TEXT;
ALTER TABLE accounts ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE accounts ADD COLUMN date_updated INTEGER;
ALTER TABLE accounts ADD COLUMN secondary_token TEXT;
ALTER TABLE accounts ADD COLUMN secondary_date_created INTEGER;
UPDATE accounts SET owner_account_sid = sid WHERE owner_account_sid IS NULL;
UPDATE accounts SET date_updated = date_created WHERE date_updated IS NULL;
CREATE INDEX accounts_by_owner ON accounts (owner_account_sid, sid);

-- API keys. Only a salted hash of the secret is kept: the secret is shown once, at creation.
CREATE TABLE api_keys (
    sid           TEXT PRIMARY KEY,
    account_sid   TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    key_type      TEXT NOT NULL,
    policy        TEXT,
    secret_salt   TEXT NOT NULL,
    secret_hash   TEXT NOT NULL,
    date_created  INTEGER NOT NULL,
    date_updated  INTEGER NOT NULL
);
CREATE INDEX api_keys_by_account ON api_keys (account_sid, sid);

-- Advanced by every change to an account or a key, so that every server sharing the database
-- drops what it cached.
CREATE TABLE credential_changes (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);
INSERT INTO credential_changes (id, seq) VALUES (1, 0);
