-- People known to this server, keyed by the identity their tokens carry.
CREATE TABLE users (
    identity      TEXT PRIMARY KEY NOT NULL,
    display_name  TEXT NOT NULL,
    created_at    BIGINT NOT NULL,  -- unix milliseconds
    last_seen_at  BIGINT NOT NULL
);
