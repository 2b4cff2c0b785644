-- polydemo: the system of record for users and the social graph (PostgreSQL, "UserSvc").
-- Loaded by `polydemo seed` (local runtime) and by the postgres image's init (docker-compose.yml).
-- Idempotent: safe to run on every `up`/`seed`.

-- The users table exactly as the original design's README gives it.
CREATE TABLE IF NOT EXISTS users (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  email TEXT UNIQUE NOT NULL,
  name TEXT,
  hashed_password TEXT NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE DEFAULT now(),
  updated_at TIMESTAMP WITH TIME ZONE DEFAULT now()
);
-- The dashboard's latest sign-ups, every frame: without it a sort of every user (~60 ms at 200,000).
CREATE INDEX IF NOT EXISTS users_created_at_idx ON users (created_at, id);

-- Who follows whom: the graph's system of record. Neo4j's FOLLOWS edges are a projection of it.
CREATE TABLE IF NOT EXISTS follows (
  follower_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  followee_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  PRIMARY KEY (follower_id, followee_id),
  CHECK (follower_id <> followee_id)
);
CREATE INDEX IF NOT EXISTS follows_followee_idx ON follows (followee_id);

-- The transactional outbox (README, "Three stories": outbox). A post written this way is a row in
-- user_posts (the business write) and a row in outbox (its event), in ONE transaction: both or neither.
-- Debezium reads outbox from the same slot and publication as users and follows; its outbox event
-- router SMT, limited to this table's topic by a predicate (stack/connect/polydemo-users.json),
-- routes each row by aggregatetype to <prefix>.outbox.<aggregatetype>, keyed by aggregateid.
-- Rows are kept (the router ignores deletes anyway); `polydemo reset` empties both tables.
CREATE TABLE IF NOT EXISTS user_posts (
  id TEXT PRIMARY KEY,
  author_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  title TEXT NOT NULL,
  body TEXT NOT NULL DEFAULT '',
  tags TEXT[] NOT NULL DEFAULT '{}',
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS outbox (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  aggregatetype TEXT NOT NULL,
  aggregateid TEXT NOT NULL,
  type TEXT NOT NULL,
  payload JSONB NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);
ALTER TABLE outbox REPLICA IDENTITY DEFAULT;

-- Debezium: deletes must carry the key. The primary key is the default replica identity, which is
-- enough for every projector (they delete by id); REPLICA IDENTITY FULL would also ship the
-- password hash of deleted users. The hash is excluded from change events by the connector
-- (column.exclude.list in stack/connect/polydemo-users.json), so it never leaves Postgres.
ALTER TABLE users REPLICA IDENTITY DEFAULT;
ALTER TABLE follows REPLICA IDENTITY DEFAULT;

-- The publication Debezium reads (pgoutput). Created here, not by Debezium
-- (publication.autocreate.mode=disabled), so its contents are reviewed SQL.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'polydemo_pub') THEN
    CREATE PUBLICATION polydemo_pub FOR TABLE users, follows, outbox;
  END IF;
  -- A database made before the outbox existed: add the table to its publication (once).
  IF NOT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = 'polydemo_pub' AND tablename = 'outbox') THEN
    ALTER PUBLICATION polydemo_pub ADD TABLE outbox;
  END IF;
END
$$;
