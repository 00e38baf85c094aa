-- Whether the user shared their contact details with the gate's owners: true when they sent the request
-- themselves, false when an owner granted access without one (their email is then not shown to the owners).
ALTER TABLE access_requests ADD COLUMN shared_contact INTEGER NOT NULL DEFAULT 1;
