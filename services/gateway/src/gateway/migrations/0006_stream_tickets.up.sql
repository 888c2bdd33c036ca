-- Single-use tickets that open one event stream (EventSource cannot send a header, and a bearer token
-- in the URL ends up in access logs). Only the SHA-256 of a ticket is kept; any replica redeems it.
CREATE TABLE gateway.stream_tickets (
    ticket_hash bytea PRIMARY KEY,
    user_id text NOT NULL,
    role text,
    expires_at timestamptz NOT NULL
);
CREATE INDEX stream_tickets_expiry_idx ON gateway.stream_tickets (expires_at);
