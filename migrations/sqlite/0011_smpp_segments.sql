-- SMPP: the SMSC id of each segment of a multipart message awaiting its receipts, and what its
-- receipt said (result NULL: none yet; 0: delivered; else the Twilio error code). A message is
-- `delivered` once every segment is; rows go once every receipt is in, or after a week.
CREATE TABLE smpp_segments (
    segment_id TEXT PRIMARY KEY,
    carrier_id TEXT NOT NULL,
    result     INTEGER,
    done_at    INTEGER,
    created    INTEGER NOT NULL
);
CREATE INDEX smpp_segments_by_carrier ON smpp_segments (carrier_id);
CREATE INDEX smpp_segments_by_age ON smpp_segments (created);
