-- Campaign sends: one row per campaign, one row per (campaign, recipient) in the send log.
CREATE TABLE campaigns (
    id           TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,            -- of the compiled content at first send
    list_name    TEXT,
    subject      TEXT,
    transport    TEXT,                     -- description only, never a password
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT,
    updated_at   TEXT NOT NULL
);

-- contact_id is deliberately not a FOREIGN KEY: erasing a contact keeps the (anonymised) log row
-- so the counts stay true, and digest recipients given as plain addresses have no contact row.
CREATE TABLE send_log (
    id               INTEGER PRIMARY KEY,
    campaign_id      TEXT NOT NULL REFERENCES campaigns(id),
    recipient_key    TEXT NOT NULL,        -- 'c<contact id>' or 'a<hmac of address>'
    contact_id       INTEGER,
    email            TEXT,                 -- needed to send; NULL after erasure
    token            TEXT NOT NULL,        -- keyed hash of the recipient: Message-ID and VERP part
    message_id       TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN
                       ('pending', 'sending', 'sent', 'failed', 'suppressed', 'skipped', 'unknown')),
    error            TEXT,
    smtp_code        INTEGER,
    permanent        INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    first_attempt_at REAL,                 -- unix time, for max_retry_age
    next_attempt_at  REAL,                 -- unix time of the next retry of a transient failure
    sent_at          TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (campaign_id, recipient_key)
);
CREATE INDEX send_log_campaign_status ON send_log (campaign_id, status);
CREATE INDEX send_log_contact ON send_log (contact_id);
CREATE INDEX send_log_sent_at ON send_log (sent_at);
CREATE INDEX send_log_token ON send_log (token);

-- Bounce and complaint reports already read, so re-reading a mailbox counts nothing twice.
CREATE TABLE bounce_events (
    id           INTEGER PRIMARY KEY,
    message_key  TEXT NOT NULL,            -- sha256 of the report's bytes
    email        TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint')),
    status       TEXT,
    diagnostic   TEXT,
    campaign_id  TEXT,
    received_at  TEXT NOT NULL,
    UNIQUE (message_key, email)
);
CREATE INDEX bounce_events_email ON bounce_events (email);
