-- `patrol_positions` asks for the newest minutes of every city: a block range index on the
-- chunks' time answers it without reading the day's partition (a few bytes a partition).
CREATE INDEX track_chunks_t ON track_chunks USING brin (t);

-- The Open311 list of open requests, newest first, reads its thousand from the index alone
-- (a megacity has 18,000 open: fetching each to sort them took 60 ms).
CREATE INDEX incidents_open_newest ON incidents (city, opened, id) WHERE stage <> 'closed';
