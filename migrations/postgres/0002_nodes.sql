-- Several nodes on one database: node leases, who owns each piece of unfinished work, global
-- send slots per sender, singleton leases (one node at a time runs the retention sweep).

-- One row per live node; a node renews `expires_at` every third of its lease. A row whose
-- lease passed (a crashed node) is deleted by the peer that takes its work over.
CREATE TABLE nodes (
    node_id    TEXT COLLATE "C" PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);

-- The node processing an unfinished message / sending a pending callback. NULL (rows from
-- before this version, or copied by copy-db) means nobody: the first node to look claims it.
ALTER TABLE messages ADD COLUMN owner TEXT COLLATE "C";
ALTER TABLE callbacks ADD COLUMN owner TEXT COLLATE "C";

-- Small partial indexes, now by owner: a node's own work, or the orphans of a gone one.
DROP INDEX messages_unfinished;
CREATE INDEX messages_unfinished ON messages (owner, key)
    WHERE status IN ('queued', 'sending', 'sent', 'accepted', 'scheduled');
DROP INDEX messages_receiving;
CREATE INDEX messages_receiving ON messages (owner, key) WHERE status = 'receiving';
DROP INDEX callbacks_pending;
CREATE INDEX callbacks_pending ON callbacks (owner, id) WHERE state = 'pending';

-- The next free send instant of a paced sender (µs since the epoch, the database's clock):
-- every node reserves its sends here, so the sum over nodes stays at the sender's rate.
CREATE TABLE send_slots (
    sender  TEXT COLLATE "C" PRIMARY KEY,
    next_us BIGINT NOT NULL
);

-- Jobs one node at a time runs (the retention sweep): held by `node_id` until `expires_at`.
CREATE TABLE singleton_leases (
    name       TEXT COLLATE "C" PRIMARY KEY,
    node_id    TEXT COLLATE "C" NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- Every change to an account or a key advances credential_changes.seq: tell every node at
-- commit (channel per schema, so schemas sharing a database do not hear each other).
CREATE FUNCTION switchboard_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('switchboard_' || current_schema(), 'credentials');
    RETURN NULL;
END $$;
CREATE TRIGGER credential_changes_notify AFTER UPDATE ON credential_changes
    FOR EACH STATEMENT EXECUTE FUNCTION switchboard_credentials_changed();
