-- Free-text detail of an event (webhook failures, TwiML errors).
ALTER TABLE message_events ADD COLUMN detail TEXT;

-- Sticky sender: the sender a Messaging Service last used for a recipient.
CREATE TABLE sticky_senders (
    service_sid TEXT NOT NULL,
    to_addr     TEXT NOT NULL,
    sender      TEXT NOT NULL,
    PRIMARY KEY (service_sid, to_addr)
) WITHOUT ROWID;

-- Opt-outs: `scope` is a sender address, or a Messaging Service SID (the whole service).
CREATE TABLE opt_outs (
    account_sid  TEXT NOT NULL,
    scope        TEXT NOT NULL,
    number       TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    PRIMARY KEY (account_sid, scope, number)
) WITHOUT ROWID;
