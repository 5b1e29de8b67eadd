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

-- 4. 85 %: creates fill pages in key order, and each of their rows then changes status a few
-- times within seconds. A change is HOT only if its new version fits on the same page; the
-- versions it leaves dead are pruned by a later change that finds the page full (no long
-- snapshot holds them). The 15 % that inserts leave free (~1.2 kB of 8 kB, one or two versions
-- of a row with its history) is the room for the first changes before a prune; a page packed to
-- the brim sends the first change of each of its rows to another page, with new index entries.
-- Cost: ~15 % more pages for `messages`.
ALTER TABLE messages SET (fillfactor = 85);
