-- Bounce reports are data from anyone (issue 11 item 8): a report acts only when it matches a
-- message we sent (its VERP token or Message-ID is in the send log). Every report is still kept,
-- so that re-reading a mailbox counts nothing twice, but an address is kept only as its keyed
-- hash (HMAC with the workspace secret, as erasure keeps it): a report naming people we never
-- mailed must not put their addresses in our database.
--
-- bounce_events is rebuilt to let `email` be NULL. Rows read before this migration keep their
-- address in `email` with a NULL `email_hash` until the next `commskit bounces` hashes them
-- (SQL cannot compute the HMAC); they were acted on, so they stay `matched`. The old table's
-- pages are zeroed when freed, so its clear copies do not linger in the file.
PRAGMA secure_delete=ON;
CREATE TABLE bounce_events_0009 (
    id           INTEGER PRIMARY KEY,
    message_key  TEXT NOT NULL,            -- sha256 of the report's bytes
    email        TEXT,                     -- only in rows read before 0009, until hashed
    email_hash   TEXT,                     -- keyed hash of the reported address
    matched      INTEGER NOT NULL DEFAULT 1, -- 1: the report matched a message we sent to it
    kind         TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint')),
    status       TEXT,
    diagnostic   TEXT,                     -- addresses in it are masked
    campaign_id  TEXT,
    received_at  TEXT NOT NULL,
    UNIQUE (message_key, email_hash)
);
INSERT INTO bounce_events_0009 (id, message_key, email, kind, status, diagnostic, campaign_id,
    received_at)
    SELECT id, message_key, email, kind, status, diagnostic, campaign_id, received_at
    FROM bounce_events;
DROP TABLE bounce_events;
ALTER TABLE bounce_events_0009 RENAME TO bounce_events;
CREATE INDEX bounce_events_email_hash ON bounce_events (email_hash, kind);

-- One row per mailbox message read, whatever it turned out to be, so each is read once: an
-- unreadable message (e.g. nested too deep) is recorded and skipped, never retried forever.
CREATE TABLE bounce_messages (
    message_key  TEXT PRIMARY KEY,         -- sha256 of the message's bytes
    outcome      TEXT NOT NULL CHECK (outcome IN
                   ('matched', 'unmatched', 'ignored', 'unrecognised', 'unreadable')),
    detail       TEXT,                     -- why ignored/unreadable; never an address
    read_at      TEXT NOT NULL
);
INSERT INTO bounce_messages (message_key, outcome, read_at)
    SELECT message_key, 'matched', MIN(received_at) FROM bounce_events GROUP BY message_key;

-- A report quoting one of our Message-IDs finds the recipient it was sent to.
CREATE INDEX send_log_message_id ON send_log (message_id);
