-- Inbound messages still being processed (restart recovery).
CREATE INDEX messages_receiving ON messages (key) WHERE status = 'receiving';
