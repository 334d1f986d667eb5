-- Views for analysts and GIS tools (QGIS: add a PostGIS connection, then any of these as a layer).

-- Open incidents with their stage, deadline and whether they are late now.
CREATE VIEW open_incidents AS
SELECT city, id, category, source, stage, grid, description, opened, deadline,
       deadline IS NOT NULL AND deadline < now() AS overdue,
       (case_json ->> 'level') AS level, geom
FROM incidents
WHERE stage NOT IN ('closed');

-- Every workflow step with the incident's place: who did what where, when.
CREATE VIEW incident_steps AS
SELECT t.city, t.incident, t.n, t.from_stage, t.to_stage, t.action, t.actor, t.note, t.at,
       i.category, i.grid, i.geom
FROM transitions t JOIN incidents i ON i.city = t.city AND i.id = t.incident;

-- Each patrol's newest fix of the last ten minutes, with its registration.
CREATE VIEW patrol_positions AS
SELECT DISTINCT ON (f.city, f.patrol) f.city, f.patrol, p.ext_id, p.name, p.role, p.status, p.grid,
       f.t, f.geom
FROM fixes f JOIN patrols p ON p.city = f.city AND p.id = f.patrol
WHERE f.t > now() - interval '10 minutes'
ORDER BY f.city, f.patrol, f.t DESC, f.n DESC;

-- Tracks as lines, one per patrol and hour (filter on hour: a day of a big city is large).
CREATE VIEW patrol_tracks_hourly AS
SELECT f.city, f.patrol, p.ext_id, date_trunc('hour', f.t) AS hour, count(*) AS fixes,
       min(f.t) AS first_t, max(f.t) AS last_t, ST_MakeLine(f.geom ORDER BY f.t, f.n) AS geom
FROM fixes f JOIN patrols p ON p.city = f.city AND p.id = f.patrol
GROUP BY f.city, f.patrol, p.ext_id, date_trunc('hour', f.t);
