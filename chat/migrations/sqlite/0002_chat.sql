-- Chat: conversations, members, messages, reactions, attachments, moderation.
-- Timestamps are unix milliseconds. Mirrors postgres/0002_chat.sql; queries are shared, so
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
    created_at      INTEGER NOT NULL,
    last_message_at INTEGER,
    -- Bumped inside the sending transaction: sequence numbers follow commit order.
    last_seq        INTEGER NOT NULL DEFAULT 0,
    -- Bumped by every send, edit, delete and reaction: the sync cursor for changes.
    last_version    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (direct_a, direct_b)
);

CREATE TABLE members (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    identity        TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'moderator', 'member')),
    joined_at       INTEGER NOT NULL,
    muted_at        INTEGER,
    delivered_up_to INTEGER NOT NULL DEFAULT 0,
    read_up_to      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, identity)
);
CREATE INDEX members_by_identity ON members (identity);

CREATE TABLE bans (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    identity        TEXT NOT NULL,
    banned_by       TEXT NOT NULL,
    banned_at       INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, identity)
);

CREATE TABLE messages (
    -- An INTEGER PRIMARY KEY is a rowid that VACUUM cannot renumber; the FTS index keys on it.
    pk              INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    sender          TEXT,
    client_msg_id   TEXT,
    text            TEXT,
    reply_to        TEXT,
    created_at      INTEGER NOT NULL,
    edited_at       INTEGER,
    deleted_at      INTEGER,
    UNIQUE (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_idempotency ON messages (conversation_id, sender, client_msg_id);
CREATE INDEX messages_by_version ON messages (conversation_id, version);
CREATE INDEX messages_by_sender ON messages (sender);

CREATE TABLE reactions (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    emoji      TEXT NOT NULL,
    identity   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
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
    size            INTEGER NOT NULL,
    storage_key     TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX attachments_by_message ON attachments (message_id);
CREATE INDEX attachments_by_uploader ON attachments (uploader);

CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    target_identity TEXT,
    target_message  TEXT,
    at              INTEGER NOT NULL
);
CREATE INDEX audit_log_by_conversation ON audit_log (conversation_id, id);

-- Full-text search: an external-content FTS5 index over messages.text kept in step by
-- triggers. Deleted messages have NULL text, so they drop out of the index.
CREATE VIRTUAL TABLE messages_fts USING fts5 (text, content = 'messages', content_rowid = 'pk');

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.pk, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.pk, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.pk, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.pk, new.text);
END;
