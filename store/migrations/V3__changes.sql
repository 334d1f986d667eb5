-- Servers on a bus (`--bus nats://…`): the outbox of the city's shared state. Each commit of the
-- leader that changes patrols, incidents or events writes one row here in the same transaction
-- (the change as JSON, numbered without gaps); it is then relayed to the bus, and a server that
-- missed one reads it back from here. Kept for the retention, like the event log.
CREATE TABLE changes (
    city  text NOT NULL,
    id    bigint NOT NULL,
    at    timestamptz NOT NULL DEFAULT now(),
    body  jsonb NOT NULL,
    PRIMARY KEY (city, id)
);
CREATE INDEX changes_at ON changes (city, at);
