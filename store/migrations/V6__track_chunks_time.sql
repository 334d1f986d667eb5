-- `patrol_positions` asks for the newest minutes of every city: a block range index on the
-- chunks' time answers it without reading the day's partition (a few bytes a partition).
CREATE INDEX track_chunks_t ON track_chunks USING brin (t);
