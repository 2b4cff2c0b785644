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

-- Who follows whom: the graph's system of record. Neo4j's FOLLOWS edges are a projection of it.
CREATE TABLE IF NOT EXISTS follows (
  follower_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  followee_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  PRIMARY KEY (follower_id, followee_id),
  CHECK (follower_id <> followee_id)
);
CREATE INDEX IF NOT EXISTS follows_followee_idx ON follows (followee_id);

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
    CREATE PUBLICATION polydemo_pub FOR TABLE users, follows;
  END IF;
END
$$;
