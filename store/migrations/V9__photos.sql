-- Residents' photos uploaded with Open311 requests, stripped of their metadata before they
-- were stored (gridwall_city::photo). `id` is the SHA-256 of `bytes` (hex); an incident's case
-- lists the ids of its photos.
CREATE TABLE photos (
    city     text NOT NULL,
    id       text NOT NULL,
    mime     text NOT NULL,
    bytes    bytea NOT NULL,
    created  timestamptz NOT NULL,
    PRIMARY KEY (city, id)
);
