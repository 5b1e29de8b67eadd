-- Media of MMS messages (`ME…`), bytes included: a database shared by several nodes then
-- serves every attachment from any node. `message_key` is the message SID without its prefix.
CREATE TABLE media (
    sid          TEXT PRIMARY KEY,
    message_key  TEXT NOT NULL,
    message_sid  TEXT NOT NULL,
    account_sid  TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content      BLOB NOT NULL,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);
CREATE INDEX media_by_message ON media (message_key, sid);
