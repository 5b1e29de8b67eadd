-- Content API templates (`HX…`).
CREATE TABLE contents (
    sid          TEXT PRIMARY KEY,
    account_sid  TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    language     TEXT NOT NULL,
    variables    TEXT NOT NULL,
    types        TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX contents_by_account ON contents (account_sid, sid);
