-- polydemo: analytics events (the time-series store, "TimeSvc").
-- TimescaleDB when the extension is available (the docker image), else native range partitioning
-- managed by pg_partman when installed, else a DEFAULT partition. `polydemo status` says which.
-- Idempotent: safe to run on every `up`/`seed`.

DO $$
DECLARE
  has_timescale boolean := EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb');
  has_partman boolean := EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_partman');
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
    IF has_partman THEN
      CREATE SCHEMA IF NOT EXISTS partman;
      CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman;
      -- pg_partman 4.x signature: daily partitions, 7 made ahead and 30 behind.
      PERFORM partman.create_parent('public.events', 'time', 'native', 'daily',
                                    p_premake := 7, p_start_partition := (now() - interval '30 days')::text);
    END IF;
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
