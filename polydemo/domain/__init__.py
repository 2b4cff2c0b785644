"""Operations on the systems of record (Postgres for users and follows, Mongo for posts).

The domain knows nothing of Kafka: a write is a commit to its system of record. Everything
downstream (graph, cache, analytics) follows through change data capture.
"""
