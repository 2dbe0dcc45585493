-- Several server nodes may share the store: a room visit records the node it began on, so a
-- node starting ends only its own visits (another node's rooms are live). NULL: one node.
ALTER TABLE members ADD COLUMN node TEXT;
