-- Senders: phone numbers (v2010 IncomingPhoneNumbers), short codes, Messaging Services and their
-- sender pools. SIDs are stored whole (prefix + lowercase, time-ordered key), so within one table
-- `sid` order is creation order: the paging order of every list here.

-- Phone numbers. The columns the message flow reads are columns; the voice, emergency and
-- regulatory settings it never reads are one JSON document (`settings`).
CREATE TABLE phone_numbers (
    sid                 TEXT PRIMARY KEY,
    account_sid         TEXT NOT NULL,
    phone_number        TEXT NOT NULL,
    friendly_name       TEXT NOT NULL,
    sms_url             TEXT,
    sms_method          TEXT NOT NULL,
    sms_fallback_url    TEXT,
    sms_fallback_method TEXT NOT NULL,
    settings            TEXT NOT NULL,
    date_created        INTEGER NOT NULL,
    date_updated        INTEGER NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX phone_numbers_by_address ON phone_numbers (account_sid, phone_number);
CREATE INDEX phone_numbers_by_account ON phone_numbers (account_sid, sid);

-- Short codes, provisioned through /_switchboard/ (Twilio has no API to buy them).
CREATE TABLE short_codes (
    sid                 TEXT PRIMARY KEY,
    account_sid         TEXT NOT NULL,
    short_code          TEXT NOT NULL,
    country_code        TEXT NOT NULL,
    friendly_name       TEXT NOT NULL,
    sms_url             TEXT,
    sms_method          TEXT NOT NULL,
    sms_fallback_url    TEXT,
    sms_fallback_method TEXT NOT NULL,
    api_version         TEXT NOT NULL,
    date_created        INTEGER NOT NULL,
    date_updated        INTEGER NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX short_codes_by_address ON short_codes (account_sid, short_code);
CREATE INDEX short_codes_by_account ON short_codes (account_sid, sid);

-- Messaging Services; `settings` holds the properties the message flow never reads (JSON).
CREATE TABLE services (
    sid                           TEXT PRIMARY KEY,
    account_sid                   TEXT NOT NULL,
    friendly_name                 TEXT NOT NULL,
    inbound_request_url           TEXT,
    inbound_method                TEXT NOT NULL,
    fallback_url                  TEXT,
    fallback_method               TEXT NOT NULL,
    status_callback               TEXT,
    sticky_sender                 INTEGER NOT NULL,
    smart_encoding                INTEGER NOT NULL,
    area_code_geomatch            INTEGER NOT NULL,
    validity_period               INTEGER NOT NULL,
    use_inbound_webhook_on_number INTEGER NOT NULL,
    settings                      TEXT NOT NULL,
    date_created                  INTEGER NOT NULL,
    date_updated                  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX services_by_account ON services (account_sid, sid);

-- Sender pools. A row's `sid` is the sender's own SID (PN…, SC…, AI…); the unique address index
-- keeps each sender in at most one service of its account, which makes "the service of this
-- From" a single row.
CREATE TABLE pool_senders (
    sid          TEXT PRIMARY KEY,
    account_sid  TEXT NOT NULL,
    service_sid  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    address      TEXT NOT NULL,
    country_code TEXT,
    date_created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX pool_senders_by_address ON pool_senders (account_sid, address);
CREATE INDEX pool_senders_by_service ON pool_senders (service_sid, kind, sid);
CREATE INDEX pool_senders_in_order ON pool_senders (service_sid, date_created, sid);
