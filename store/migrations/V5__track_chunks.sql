-- Tracks at province scale: a fix costs a row of about 116 bytes in `fixes`; a day of 100,000
-- patrols at one fix a second would take a terabyte. `fixes` is now the journal of the newest
-- minutes only: once a minute is over the servers' maintenance moves it into track chunks, one
-- row per patrol and minute, about six bytes a fix with its index.
--
-- `data` holds the minute's fixes in the replay codec (delta-of-delta varints of time and
-- centimetres, about three bytes a fix: what replay and exports decode); `geom` the minute's track
-- simplified to a metre (what GIS tools draw: a LineString, or a Point for a single fix).
-- `part` numbers the chunks of one patrol's minute: a fix that arrives after its minute was moved
-- becomes a further part.
CREATE TABLE track_chunks (
    city     text NOT NULL,
    t        timestamptz NOT NULL,  -- the minute's start
    patrol   integer NOT NULL,
    part     smallint NOT NULL,
    fixes    integer NOT NULL,
    first_t  timestamptz NOT NULL,
    last_t   timestamptz NOT NULL,
    data     bytea NOT NULL,
    geom     geometry NOT NULL,
    PRIMARY KEY (city, t, patrol, part)
) PARTITION BY RANGE (t);

-- The day partitions of `fixes` made so far get their twins (the servers make the coming days').
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'fixes' LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF track_chunks FOR VALUES FROM (%L) TO (%L)',
            'track_chunks_' || substr(r.name, 7),
            to_date(substr(r.name, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC',
            (to_date(substr(r.name, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC');
    END LOOP;
END $$;

-- The two track views read the chunks and the journal's newest minutes: the same columns as
-- before, so QGIS layers on them keep working.
DROP VIEW patrol_positions;
CREATE VIEW patrol_positions AS
SELECT DISTINCT ON (f.city, f.patrol) f.city, f.patrol, p.ext_id, p.name, p.role, p.status, p.grid,
       f.t, f.geom
FROM (
    SELECT city, patrol, t, n, geom FROM fixes WHERE t > now() - interval '10 minutes'
    UNION ALL
    SELECT city, patrol, last_t, -1, COALESCE(ST_EndPoint(geom), geom)::geometry(Point)
    FROM track_chunks WHERE t > now() - interval '11 minutes' AND last_t > now() - interval '10 minutes'
) f JOIN patrols p ON p.city = f.city AND p.id = f.patrol
ORDER BY f.city, f.patrol, f.t DESC, f.n DESC;

DROP VIEW patrol_tracks_hourly;
CREATE VIEW patrol_tracks_hourly AS
SELECT f.city, f.patrol, p.ext_id, date_trunc('hour', f.t) AS hour, sum(f.fixes)::bigint AS fixes,
       min(f.first_t) AS first_t, max(f.last_t) AS last_t, ST_MakeLine(f.geom ORDER BY f.first_t, f.n) AS geom
FROM (
    SELECT city, patrol, t, -1::bigint AS n, fixes, first_t, last_t, geom FROM track_chunks
    UNION ALL
    SELECT city, patrol, t, n, 1, t, t, geom FROM fixes
) f JOIN patrols p ON p.city = f.city AND p.id = f.patrol
GROUP BY f.city, f.patrol, p.ext_id, date_trunc('hour', f.t);
