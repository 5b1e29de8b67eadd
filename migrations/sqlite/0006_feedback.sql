-- MessageFeedback: one per message (`unconfirmed` from the start with ProvideFeedback=true).
CREATE TABLE message_feedback (
    key          TEXT PRIMARY KEY,
    account_sid  TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
) WITHOUT ROWID;
