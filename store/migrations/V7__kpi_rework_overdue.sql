-- 研判 indicators need two more counters per day and cell: incidents closed after a rework
-- (返工率) and incidents that ran past a deadline, open or closed (超期率). The rows written
-- before them lack both, so every city counts its incidents into the rows once more (the
-- server that next opens it, as for V4).
ALTER TABLE kpi_days ADD COLUMN reworked bigint NOT NULL DEFAULT 0;
ALTER TABLE kpi_days ADD COLUMN overdue bigint NOT NULL DEFAULT 0;
ALTER TABLE kpi_all ADD COLUMN reworked bigint NOT NULL DEFAULT 0;
ALTER TABLE kpi_all ADD COLUMN overdue bigint NOT NULL DEFAULT 0;
DELETE FROM kpi_days;
DELETE FROM kpi_all;
UPDATE cities SET kpi_counted = false;
