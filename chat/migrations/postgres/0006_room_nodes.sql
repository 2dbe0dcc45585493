-- Several server nodes sharing the store: which node holds each room (its media and
-- signaling), claimed with compare-and-set and kept by renewing the lease while the room is
-- open there. A claim whose lease ran out (its node died) may be taken by another node.
CREATE TABLE room_nodes (
    room TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);
CREATE INDEX room_nodes_node ON room_nodes (node);
