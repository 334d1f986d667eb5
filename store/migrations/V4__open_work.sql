-- A city that runs for years: the live state reads back its open work and its KPI counters,
-- never the past, and old incidents are answered from indexed queries.
--
-- Open311 lists and exports ask for incidents by acceptance time; a restart for the open ones.
CREATE INDEX incidents_opened ON incidents (city, opened);
CREATE INDEX incidents_open ON incidents (city, id) WHERE stage <> 'closed';

-- The KPI counters (gridwall_city::tally): per city, day (days since 1970-01-01 in the
-- operators' time zone) and cell, the incidents accepted that day (total, closed, on_time,
-- rated, satisfied, handling_ms) and the incidents closed that day (closed_in).
CREATE TABLE kpi_days (
    city         text NOT NULL,
    day          integer NOT NULL,
    grid         text NOT NULL,
    total        bigint NOT NULL,
    closed       bigint NOT NULL,
    on_time      bigint NOT NULL,
    rated        bigint NOT NULL,
    satisfied    bigint NOT NULL,
    handling_ms  bigint NOT NULL,
    closed_in    bigint NOT NULL,
    PRIMARY KEY (city, day, grid)
);

-- Their sums since the start, per cell.
CREATE TABLE kpi_all (
    city         text NOT NULL,
    grid         text NOT NULL,
    total        bigint NOT NULL,
    closed       bigint NOT NULL,
    on_time      bigint NOT NULL,
    rated        bigint NOT NULL,
    satisfied    bigint NOT NULL,
    handling_ms  bigint NOT NULL,
    PRIMARY KEY (city, grid)
);

-- Whether the city's incidents from before these tables were counted into them.
ALTER TABLE cities ADD COLUMN kpi_counted boolean NOT NULL DEFAULT false;
