-- Fewer B-tree operations per message (issue 15). Before: a create was a `messages` row (six
-- indexes) and a `message_events` row (two), and each of the three status changes a new row
-- version in every index of `messages` (status sat in partial index predicates, so no update
-- was HOT) plus a `message_events` row. Now:
--
-- 1. A message's history is packed into its row (`history`: one JSON line per event, see
--    src/store/history.rs), appended by the UPDATE that changes the status.
-- 2. `message_events` stays the append-only log the stream numbers its events by (creates and
--    status changes; notes are no longer written there), without its per-key index: replay
--    joins it to `messages` by key, and rows of deleted messages simply join to nothing.
-- 3. Which messages are unfinished (restart recovery, takeover) is the small table
--    `unfinished`, written at the create and when a status leaves the set, instead of partial
--    indexes whose predicates name `status`.
-- 4. With `status` in no index and no predicate, a status change is a heap-only tuple (HOT)
--    update when the page has room for the new version: see the fillfactor below.

-- 1. The history, backfilled from the log in event order (notes included). `parse` reads the
-- keys t/f/s/e/d and takes absent fields as none, so nulls are stripped.
ALTER TABLE messages ADD COLUMN history TEXT NOT NULL DEFAULT '';
UPDATE messages m SET history = h.lines
FROM (
    SELECT key, string_agg(
        json_strip_nulls(json_build_object('t', at, 'f', from_status, 's', to_status, 'e', error_code, 'd', detail))::text
            || E'\n',
        '' ORDER BY id) AS lines
    FROM message_events GROUP BY key
) h
WHERE m.key = h.key;

-- 2. The log keeps its primary key (the event number) only.
DROP INDEX message_events_by_key;

-- 3. Unfinished work: the statuses of the old partial indexes. Who processes a message stays
-- `messages.owner` (set at the create, changed only by a takeover, in no index now).
CREATE TABLE unfinished (
    key TEXT COLLATE "C" PRIMARY KEY
);
INSERT INTO unfinished (key)
SELECT key FROM messages WHERE status IN ('queued', 'sending', 'sent', 'accepted', 'scheduled', 'receiving');
DROP INDEX messages_unfinished;
DROP INDEX messages_receiving;

-- 4. 50 %: creates fill pages in key order, so the rows of a page are created together and
-- change status together, often in one group commit. A change is HOT only if its new version
-- fits on the row's own page, and versions left dead in the same transaction cannot be pruned
-- before it commits, so a page needs room for a version of most of its rows at once. Measured on
-- the lifecycle under create load (64 connections; `sent`, which sets the indexed `carrier_id`,
-- can never be HOT, so 67 % is the most): 28 % of updates HOT at fillfactor 85, 44 % at 70, 59 %
-- at 50. The heap is not larger for it: updates that leave their page take new pages anyway
-- (~1.0-1.3 kB of heap per message at 85, ~1.05 kB at 50), and a finished row changes no more.
ALTER TABLE messages SET (fillfactor = 50);
