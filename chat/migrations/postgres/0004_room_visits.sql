-- A room's conversation belongs to the visit: a member sees it only from the message after
-- the last one sent before they joined (visible_from_seq), and stops being a member when
-- they leave the room. Direct and group conversations keep 0 (everything).
ALTER TABLE members ADD COLUMN visible_from_seq BIGINT NOT NULL DEFAULT 0;
-- Memberships of room conversations made before this rule had no end: nobody is in a room
-- while the server migrates, so every one of them is over.
DELETE FROM members WHERE conversation_id IN (SELECT id FROM conversations WHERE kind = 'room');
