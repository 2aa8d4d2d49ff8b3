-- When the database fails (issue 20): the row a process rewrites to learn
-- whether the database takes writes again after a full disk or an outage
-- (Store::store_probe, while the store is reported degraded). One row,
-- rewritten in place: it never grows.
CREATE TABLE probes (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at BIGINT NOT NULL
);

INSERT INTO probes (id, probed_at) VALUES (1, 0);
