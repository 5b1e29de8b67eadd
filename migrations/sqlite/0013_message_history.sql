-- Fewer rows per message (issue 15). A status change used to write an event row plus its index
-- entry and rewrite the entries of every index over a column its UPDATE set; now it rewrites
-- the message row and appends one row to a log without a secondary index.

-- A message's events, one JSON line each (src/store/history.rs), appended by the UPDATE that
-- changes the status. Filled here from the event rows, oldest first; null fields left out.
ALTER TABLE messages ADD COLUMN history TEXT NOT NULL DEFAULT '';
UPDATE messages SET history = h.lines
FROM (
    SELECT key, group_concat(
        json_patch('{}', json_object('t', at, 'f', from_status, 's', to_status, 'e', error_code, 'd', detail)),
        char(10) ORDER BY id
    ) || char(10) AS lines
    FROM message_events GROUP BY key
) AS h
WHERE messages.key = h.key;

-- `message_events` stays the append-only log of creates and status changes: its rowid is the
-- event stream's durable event number, and the stream's replay joins it to `messages` by key.
-- Nothing reads it by key any more, so it loses its index; a deleted message's rows stay (they
-- join to nothing) until the retention sweep trims the log by age.
DROP INDEX message_events_by_key;

-- Messages still moving through the lifecycle (restart recovery), kept apart from the row so
-- that a status change rewrites no index: a create adds the key, the change to a final status
-- removes it.
CREATE TABLE unfinished (key TEXT PRIMARY KEY) WITHOUT ROWID;
INSERT INTO unfinished (key)
    SELECT key FROM messages WHERE status IN ('queued', 'sending', 'sent', 'accepted', 'scheduled', 'receiving');
DROP INDEX messages_unfinished;
DROP INDEX messages_receiving;
