-- Chat: conversations, members, messages, reactions, attachments, moderation.
-- Timestamps are unix milliseconds. Mirrors sqlite/0002_chat.sql; queries are shared, so
-- column names and meanings must stay identical.

ALTER TABLE users ADD COLUMN avatar_url TEXT;

CREATE TABLE conversations (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('direct', 'group', 'room')),
    title           TEXT,
    -- Direct conversations: the two identities, smaller first, so one pair has one row.
    direct_a        TEXT,
    direct_b        TEXT,
    room_name       TEXT UNIQUE,
    created_by      TEXT,
    created_at      BIGINT NOT NULL,
    last_message_at BIGINT,
    -- Bumped inside the sending transaction (the row lock orders senders): sequence numbers
    -- follow commit order.
    last_seq        BIGINT NOT NULL DEFAULT 0,
    -- Bumped by every send, edit, delete and reaction: the sync cursor for changes.
    last_version    BIGINT NOT NULL DEFAULT 0,
    UNIQUE (direct_a, direct_b)
);

CREATE TABLE members (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    identity        TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'moderator', 'member')),
    joined_at       BIGINT NOT NULL,
    muted_at        BIGINT,
    delivered_up_to BIGINT NOT NULL DEFAULT 0,
    read_up_to      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, identity)
);
CREATE INDEX members_by_identity ON members (identity);

CREATE TABLE bans (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    identity        TEXT NOT NULL,
    banned_by       TEXT NOT NULL,
    banned_at       BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, identity)
);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    version         BIGINT NOT NULL,
    sender          TEXT,
    client_msg_id   TEXT,
    text            TEXT,
    reply_to        TEXT,
    created_at      BIGINT NOT NULL,
    edited_at       BIGINT,
    deleted_at      BIGINT,
    UNIQUE (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_idempotency ON messages (conversation_id, sender, client_msg_id);
CREATE INDEX messages_by_version ON messages (conversation_id, version);
CREATE INDEX messages_by_sender ON messages (sender);
-- The search query repeats this exact expression so the planner uses the index.
CREATE INDEX messages_fts ON messages USING GIN (to_tsvector('simple', coalesce(text, '')));

CREATE TABLE reactions (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    emoji      TEXT NOT NULL,
    identity   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, emoji, identity)
);
CREATE INDEX reactions_by_identity ON reactions (identity);

CREATE TABLE attachments (
    id              TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id      TEXT,
    uploader        TEXT NOT NULL,
    filename        TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    size            BIGINT NOT NULL,
    storage_key     TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX attachments_by_message ON attachments (message_id);
CREATE INDEX attachments_by_uploader ON attachments (uploader);

CREATE TABLE audit_log (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    target_identity TEXT,
    target_message  TEXT,
    at              BIGINT NOT NULL
);
CREATE INDEX audit_log_by_conversation ON audit_log (conversation_id, id);
