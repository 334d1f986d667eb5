-- 研判 and 预警 (gridwall-analysis): the early warnings each city's server raised, changed,
-- acknowledged and closed, one row each as it now is; `body` is the whole warning as the API
-- answers it. `geom` is where it points (the place reported again and again, or the grid
-- unit's centre), projected with the city's SRID, for QGIS.
CREATE TABLE warnings (
    city         text NOT NULL,
    id           bigint NOT NULL,
    kind         text NOT NULL,
    level        text NOT NULL,
    scope        text NOT NULL,
    category     text,
    since        timestamptz NOT NULL,
    closed       timestamptz,
    acked_by     text,
    acked        timestamptz,
    sentence     text NOT NULL,
    geom         geometry(Point),
    body         jsonb NOT NULL,
    PRIMARY KEY (city, id)
);
CREATE INDEX warnings_open_ids ON warnings (city, id) WHERE closed IS NULL;
CREATE INDEX warnings_since ON warnings (city, since);

-- The warnings standing now, for a QGIS layer.
CREATE VIEW warnings_open AS
    SELECT city, id, kind, level, scope, category, since, acked_by, acked, sentence, geom
    FROM warnings WHERE closed IS NULL;

-- The indicators per cell and month (operators' time zone) from the KPI counters, with the
-- formulas of the README ("研判"); NULL where a denominator is zero. Join `grid` to the
-- scene's grids.geojson `code` for the polygons.
CREATE VIEW indicators_monthly AS
    SELECT city, grid,
           date_trunc('month', date '1970-01-01' + day) :: date AS month,
           sum(total) AS total, sum(closed) AS closed, sum(on_time) AS on_time,
           sum(reworked) AS reworked, sum(overdue) AS overdue,
           sum(closed)::float8 / NULLIF(sum(total), 0) AS closure_rate,
           sum(on_time)::float8 / NULLIF(sum(closed), 0) AS on_time_rate,
           sum(reworked)::float8 / NULLIF(sum(closed), 0) AS rework_rate,
           sum(overdue)::float8 / NULLIF(sum(total), 0) AS overdue_rate,
           sum(satisfied)::float8 / NULLIF(sum(rated), 0) AS satisfaction_rate,
           sum(handling_ms)::float8 / 60000 / NULLIF(sum(closed), 0) AS mean_handling_min
    FROM kpi_days GROUP BY city, grid, date_trunc('month', date '1970-01-01' + day);
