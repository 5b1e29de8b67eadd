-- Link shortening: each long URL of a message with ShortenUrls=true gets a short code.
CREATE TABLE short_links (
    code         TEXT PRIMARY KEY,
    account_sid  TEXT NOT NULL,
    message_sid  TEXT NOT NULL,
    link         TEXT NOT NULL,
    shortened    TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    clicks       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX short_links_by_message ON short_links (message_sid);
