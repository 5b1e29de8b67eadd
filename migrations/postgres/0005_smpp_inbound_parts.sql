-- SMPP: parts of concatenated inbound messages awaiting the others, stored before the SMSC is
-- answered. The message is handed on (and its rows deleted) once every part is here, or with
-- the parts that came once the first one is older than the connector's `parts_timeout_secs`.
CREATE TABLE smpp_inbound_parts (
    connector TEXT COLLATE "C" NOT NULL,
    from_addr TEXT COLLATE "C" NOT NULL,
    to_addr   TEXT COLLATE "C" NOT NULL,
    reference BIGINT NOT NULL,
    total     BIGINT NOT NULL,
    seq       BIGINT NOT NULL,
    body      TEXT NOT NULL,
    received  BIGINT NOT NULL,
    PRIMARY KEY (connector, from_addr, to_addr, reference, total, seq)
);
CREATE INDEX smpp_inbound_parts_by_age ON smpp_inbound_parts (connector, received);
