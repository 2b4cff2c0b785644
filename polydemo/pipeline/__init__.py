"""The event pipeline: Debezium registration, the post relay, and the three projectors."""
