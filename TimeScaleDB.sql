-- polydemo: analytics events (the time-series store, "TimeSvc").
-- TimescaleDB when the extension is available (the docker image), else native range partitioning by day,
-- managed by polydemo itself (polydemo_events_premake below: no extension needed, the same on every platform;
-- a home made before 2026-12-03 may have pg_partman managing it, and keeps it). `polydemo status` says which.
-- Idempotent: safe to run on every `up`/`seed`.

-- Daily partitions of `events` from `behind` days ago to `ahead` days from now, each made only when missing.
-- A day whose rows already sit in the DEFAULT partition is left there (attaching would fail on them).
-- Returns how many partitions it made. polydemo calls it with (0, 7) on every `up` (stores/timeseries.py).
CREATE OR REPLACE FUNCTION polydemo_events_premake(behind int, ahead int) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
  d date;
  made int := 0;
  part text;
  busy boolean;
  has_default boolean := to_regclass('public.events_default') IS NOT NULL;
BEGIN
  IF to_regclass('public.events') IS NULL
     OR NOT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'public.events'::regclass) THEN
    RETURN 0;  -- a hypertable, or no table yet
  END IF;
  FOR d IN SELECT generate_series(current_date - behind, current_date + ahead, interval '1 day')::date LOOP
    part := 'events_p' || to_char(d, 'YYYYMMDD');
    CONTINUE WHEN to_regclass('public.' || part) IS NOT NULL;
    IF has_default THEN  -- dynamic: events_default need not exist when this function is planned
      EXECUTE 'SELECT EXISTS (SELECT 1 FROM events_default WHERE time >= $1 AND time < $2)'
        INTO busy USING d::timestamptz, (d + 1)::timestamptz;
      CONTINUE WHEN busy;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                   part, d::timestamptz, (d + 1)::timestamptz);
    made := made + 1;
  END LOOP;
  RETURN made;
END
$fn$;

DO $$
DECLARE
  has_timescale boolean := EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb');
BEGIN
  IF to_regclass('public.events') IS NOT NULL THEN
    RETURN;
  END IF;

  -- The events table from the original design's README, plus event_id: the idempotency key the
  -- analytics projector upserts on (source table/collection + key + log position). Written once;
  -- only how it is partitioned differs.
  EXECUTE 'CREATE TABLE events (
      time TIMESTAMPTZ NOT NULL,
      user_id UUID,
      event_type TEXT,
      properties JSONB,
      event_id TEXT NOT NULL
    )' || CASE WHEN has_timescale THEN '' ELSE ' PARTITION BY RANGE (time)' END;

  IF has_timescale THEN
    CREATE EXTENSION IF NOT EXISTS timescaledb;
    PERFORM create_hypertable('events', 'time', chunk_time_interval => interval '1 day');
  ELSE
    -- Daily partitions, 30 days behind and 7 ahead (the layout pg_partman made here before).
    PERFORM polydemo_events_premake(30, 7);
    -- Anything outside the premade range still lands somewhere.
    CREATE TABLE IF NOT EXISTS events_default PARTITION OF events DEFAULT;
  END IF;

  -- Unique keys on partitioned tables and hypertables must include the partition column.
  CREATE UNIQUE INDEX events_event_id_time_uidx ON events (event_id, time);
  CREATE INDEX events_user_time_idx ON events (user_id, time DESC);
  CREATE INDEX events_type_time_idx ON events (event_type, time DESC);
END
$$;

-- Events per minute and type: kept by the very statement that inserts (or deletes) events
-- (polydemo/stores/timeseries.py), in the same transaction, so the dashboard's 15-minute sparklines read
-- about 15 x 6 rows instead of counting every event of the window (with a 100,000 sign-up burst in the
-- last two minutes that count cost ~110 ms a frame). Plain SQL: the same on TimescaleDB (where a
-- continuous aggregate would do it, but one refreshed in the background lags) and on plain PostgreSQL.
-- Made once, from what the events table already holds (an older home gets it on its next `up`).
DO $$
BEGIN
  IF to_regclass('public.events_per_minute') IS NOT NULL THEN
    RETURN;
  END IF;
  CREATE TABLE events_per_minute (
    bucket TIMESTAMPTZ NOT NULL,
    event_type TEXT NOT NULL,  -- '' for an event without a type
    n BIGINT NOT NULL,
    PRIMARY KEY (bucket, event_type)
  );
  INSERT INTO events_per_minute (bucket, event_type, n)
  SELECT date_bin('1 minute', time, '2001-01-01 00:00:00+00'), coalesce(event_type, ''), count(*)
  FROM events GROUP BY 1, 2;
END
$$;
