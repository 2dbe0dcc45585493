-- Calls: invitations that ring, call records, and system messages in chat.
-- Timestamps are unix milliseconds. Mirrors sqlite/0003_calls.sql; queries are shared, so
-- column names and meanings must stay identical.

-- System messages (the server speaking, e.g. "Missed call"): `system` is the machine-readable
-- JSON body, `system_key` makes posting idempotent per conversation. Both NULL for people's
-- messages; NULLs never collide in a unique index, so ordinary messages are unaffected.
ALTER TABLE messages ADD COLUMN system TEXT;
ALTER TABLE messages ADD COLUMN system_key TEXT;
CREATE UNIQUE INDEX messages_system_key ON messages (conversation_id, system_key)
    WHERE system_key IS NOT NULL;

CREATE TABLE call_invitations (
    id              TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- Empty once the caller's data was erased.
    caller          TEXT NOT NULL,
    media           TEXT NOT NULL CHECK (media IN ('audio', 'video')),
    room            TEXT NOT NULL,
    state           TEXT NOT NULL
                    CHECK (state IN ('ringing', 'accepted', 'declined', 'cancelled', 'missed')),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    ended_at        BIGINT,
    answered_by     TEXT
);
-- Expiry sweeps and the restart re-arm read ringing invitations by deadline.
CREATE INDEX call_invitations_by_state ON call_invitations (state, expires_at);
-- Erasure finds a person's invitations by these.
CREATE INDEX call_invitations_by_caller ON call_invitations (caller);
CREATE INDEX call_invitations_by_answerer ON call_invitations (answered_by);

CREATE TABLE call_invitees (
    invitation_id TEXT NOT NULL REFERENCES call_invitations (id) ON DELETE CASCADE,
    identity      TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('ringing', 'accepted', 'declined', 'busy',
                                                 'answered_elsewhere', 'missed', 'cancelled')),
    PRIMARY KEY (invitation_id, identity)
);
CREATE INDEX call_invitees_by_identity ON call_invitees (identity);

CREATE TABLE calls (
    id              TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    room            TEXT NOT NULL,
    invitation_id   TEXT,
    media           TEXT NOT NULL CHECK (media IN ('audio', 'video')),
    -- Empty once the starter's data was erased.
    started_by      TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    ended_at        BIGINT,
    duration        BIGINT
);
-- At most one open call per room: concurrent first joins agree on one record.
CREATE UNIQUE INDEX calls_open_per_room ON calls (room) WHERE ended_at IS NULL;
CREATE INDEX calls_by_conversation ON calls (conversation_id, started_at);
CREATE INDEX calls_by_started_at ON calls (started_at);
CREATE INDEX calls_by_starter ON calls (started_by);

CREATE TABLE call_participants (
    call_id   TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    identity  TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (call_id, identity)
);
CREATE INDEX call_participants_by_identity ON call_participants (identity);
