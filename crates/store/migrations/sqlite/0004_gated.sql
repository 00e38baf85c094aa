-- Gated repositories (the Hub's access requests): NULL when not gated, else the approval mode.
ALTER TABLE repos ADD COLUMN gated TEXT CHECK (gated IN ('auto', 'manual'));
