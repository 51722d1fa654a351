-- Bus archives and replays.  See docs/archives.md.

-- Internal: the archive part of tick(): retention and replay batches.
CREATE FUNCTION courier._archive_tick(ts timestamptz)
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '{}'::jsonb $$;

-- Internal: drop_bus() drops the bus's archives with it.
CREATE FUNCTION courier._drop_bus_archives(bus_name text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ DELETE FROM courier.archives AS a WHERE a.bus_name = _drop_bus_archives.bus_name $$;
