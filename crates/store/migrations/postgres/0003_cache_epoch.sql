-- Bumped by every change that affects authorization (memberships, tokens, visibility, moves, deletions,
-- LFS links), so servers holding short-lived caches drop them within a second of a change anywhere.
CREATE TABLE cache_epoch (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL
);
INSERT INTO cache_epoch (id, epoch) VALUES (1, 0);
