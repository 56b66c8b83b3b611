-- Change notices of committed kiosk batches, kept until they are sent to
-- the other replicas. A batch stages its notices in its own transaction
-- and sends them just after its commit; the notices of a replica that
-- died in between are sent by another replica's sweep.
CREATE TABLE change_outbox (
    notice_id bigserial PRIMARY KEY,
    payload text NOT NULL CHECK (octet_length(payload) <= 8000),
    created_ms bigint NOT NULL
);
