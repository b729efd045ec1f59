-- Events (webinars, workshops) and who was invited to, registered for and attended each.
--
-- An event's row is the stored copy of its events/NAME.toml: uid never changes for that event
-- (calendars match invitations, updates and cancellations by it) and sequence grows each time
-- its time, place or join URL changes (RFC 5546). Times are UTC ISO 8601; timezone is the IANA
-- zone the file's local times are in.
CREATE TABLE events (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    uid              TEXT NOT NULL UNIQUE,
    sequence         INTEGER NOT NULL DEFAULT 0,
    title            TEXT NOT NULL DEFAULT '',
    start_at         TEXT NOT NULL,
    end_at           TEXT NOT NULL,
    timezone         TEXT NOT NULL,
    location         TEXT NOT NULL DEFAULT '',
    join_url         TEXT NOT NULL DEFAULT '',
    organizer        TEXT NOT NULL DEFAULT '',
    capacity         INTEGER,
    deadline_at      TEXT NOT NULL DEFAULT '',
    -- JSON array of ISO 8601 durations before the start, e.g. ["P1D", "PT1H"]
    reminders        TEXT NOT NULL DEFAULT '[]',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

-- One row per (event, contact). status is where the person stands now; the *_at columns keep
-- when each step happened ('' = not yet), source says how they came (campaign:<id>, web,
-- attendance:<file>). Erasing a contact deletes its rows (AudienceRepo.erase: contact_id).
CREATE TABLE event_registrations (
    event_id       INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    contact_id     INTEGER NOT NULL,
    status         TEXT NOT NULL CHECK (status IN
                     ('invited', 'registered', 'cancelled', 'attended', 'no-show')),
    source         TEXT NOT NULL DEFAULT '',
    invited_at     TEXT NOT NULL DEFAULT '',
    registered_at  TEXT NOT NULL DEFAULT '',
    cancelled_at   TEXT NOT NULL DEFAULT '',
    attended_at    TEXT NOT NULL DEFAULT '',
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (event_id, contact_id)
) WITHOUT ROWID;

CREATE INDEX event_registrations_contact ON event_registrations (contact_id);
CREATE INDEX event_registrations_status ON event_registrations (event_id, status);
