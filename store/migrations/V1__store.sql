-- gridwall's store on PostgreSQL 15 + PostGIS 3 (`serve --store postgres://…`), applied at start
-- by refinery. One database may hold many cities (scenes): every table starts with the city, the
-- key a distributed PostgreSQL (Citus) shards by. Times are timestamptz, geometry is PostGIS in the
-- scene's projected CRS (its SRID is in `cities`), so GIS tools (QGIS) read the tables and the
-- views of V2 directly.

CREATE EXTENSION IF NOT EXISTS postgis;

-- A city's scene as the store first saw it: its CRS and the origin of its local metres. A server
-- with another scene under the same name is refused. `epoch` counts the servers that took over
-- writing the city; a server whose epoch is no longer the newest writes nothing more.
CREATE TABLE cities (
    city      text PRIMARY KEY,
    crs       text NOT NULL,
    srid      integer NOT NULL,
    origin_x  double precision NOT NULL,
    origin_y  double precision NOT NULL,
    epoch     bigint NOT NULL DEFAULT 1,
    created   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE patrols (
    city     text NOT NULL,
    id       integer NOT NULL,
    ext_id   text NOT NULL,
    name     text NOT NULL,
    role     text NOT NULL,
    grid     text NOT NULL,
    status   text NOT NULL,
    updated  timestamptz NOT NULL,
    PRIMARY KEY (city, id),
    UNIQUE (city, ext_id)
);

-- Every registration and status change, for replay.
CREATE TABLE patrol_log (
    city    text NOT NULL,
    t       timestamptz NOT NULL,
    id      integer NOT NULL,
    role    text NOT NULL,
    status  text NOT NULL,
    n       bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX patrol_log_t ON patrol_log (city, t, n);

CREATE TABLE incidents (
    city         text NOT NULL,
    id           bigint NOT NULL,
    category     text NOT NULL,
    source       text NOT NULL,
    x            double precision NOT NULL,  -- local metres (the scene's origin subtracted)
    y            double precision NOT NULL,
    geom         geometry(Point) NOT NULL,   -- projected, with the city's SRID
    grid         text NOT NULL,
    description  text NOT NULL,
    stage        text NOT NULL,
    opened       timestamptz NOT NULL,
    deadline     timestamptz,
    case_json    jsonb NOT NULL,
    PRIMARY KEY (city, id)
);
CREATE INDEX incidents_geom ON incidents USING gist (geom);
CREATE INDEX incidents_stage ON incidents (city, stage);

-- Each workflow step of each incident.
CREATE TABLE transitions (
    city        text NOT NULL,
    incident    bigint NOT NULL,
    n           integer NOT NULL,
    from_stage  text NOT NULL,
    to_stage    text NOT NULL,
    action      text NOT NULL,
    actor       text NOT NULL,
    note        text NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (city, incident, n)
);
CREATE INDEX transitions_at ON transitions (city, at);

-- The numbered event log displays resume from.
CREATE TABLE events (
    city  text NOT NULL,
    seq   bigint NOT NULL,
    at    timestamptz NOT NULL,
    kind  text NOT NULL,
    body  jsonb NOT NULL,
    PRIMARY KEY (city, seq)
);
CREATE INDEX events_at ON events (city, at);

CREATE TABLE audit (
    city     text NOT NULL,
    id       bigint GENERATED ALWAYS AS IDENTITY,
    at       timestamptz NOT NULL,
    actor    text NOT NULL,
    role     text NOT NULL,
    address  text NOT NULL,
    action   text NOT NULL,
    target   text NOT NULL,
    outcome  text NOT NULL,
    PRIMARY KEY (city, id)
);
CREATE INDEX audit_at ON audit (city, at);

-- Every position fix, one row each, partitioned by day (UTC): a day past the retention is one
-- DROP TABLE. Partitions are named fixes_dYYYYMMDD and made by the servers as days come. `n`
-- numbers fixes as they arrive: of two fixes with the same time the later one counts.
CREATE SEQUENCE fixes_n CACHE 1000;
CREATE TABLE fixes (
    city    text NOT NULL,
    patrol  integer NOT NULL,
    t       timestamptz NOT NULL,
    geom    geometry(Point) NOT NULL,
    n       bigint NOT NULL DEFAULT nextval('fixes_n')
) PARTITION BY RANGE (t);
CREATE INDEX fixes_t ON fixes USING brin (t);
CREATE INDEX fixes_patrol ON fixes (city, patrol, t);

-- Every minute: each patrol's position, role and status (the replay codec's bytes) and, every
-- ten minutes, the open incidents.
CREATE TABLE keyframes (
    city       text NOT NULL,
    t          timestamptz NOT NULL,
    seq        bigint NOT NULL,
    patrols    bytea NOT NULL,
    incidents  jsonb,
    PRIMARY KEY (city, t)
);

-- The city-wide KPIs from each time on (written when they change).
CREATE TABLE kpi_log (
    city  text NOT NULL,
    t     timestamptz NOT NULL,
    body  jsonb NOT NULL,
    PRIMARY KEY (city, t)
);
