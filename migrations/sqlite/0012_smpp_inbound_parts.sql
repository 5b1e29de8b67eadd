-- SMPP: parts of concatenated inbound messages awaiting the others, stored before the SMSC is
-- answered. The message is handed on (and its rows deleted) once every part is here, or with
-- the parts that came once the first one is older than the connector's `parts_timeout_secs`.
CREATE TABLE smpp_inbound_parts (
    connector TEXT NOT NULL,
    from_addr TEXT NOT NULL,
    to_addr   TEXT NOT NULL,
    reference INTEGER NOT NULL,
    total     INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    body      TEXT NOT NULL,
    received  INTEGER NOT NULL,
    PRIMARY KEY (connector, from_addr, to_addr, reference, total, seq)
);
CREATE INDEX smpp_inbound_parts_by_age ON smpp_inbound_parts (connector, received);
