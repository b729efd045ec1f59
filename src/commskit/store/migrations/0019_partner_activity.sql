-- What partners did that is not a send: mail read back from the team's mailbox (commskit inbox),
-- and changes of their stage and tags seen on import. Both feed the partner timeline
-- (contacts show, contacts timeline) and the activity predicates of segments (replied, stage_changed).
--
-- One row per message read, recorded once: message_key is its Message-ID (else a digest of the
-- raw message), so re-reading a mailbox counts nothing twice. kind is the class the reader gave
-- it; contact_id and campaign_id are what it matched (NULL: nothing). received_at is the
-- message's own date (UTC ISO 8601), excerpt the first lines of a reply (signature and quoted
-- text stripped), detail a class-specific note (an auto-reply's stated return date, a calendar
-- reply's PARTSTAT, a bounce's status). Erasing a contact deletes its rows.
CREATE TABLE inbox_messages (
    id           INTEGER PRIMARY KEY,
    message_key  TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('reply', 'auto_reply', 'calendar_reply',
                   'bounce', 'complaint', 'unsubscribe', 'other')),
    contact_id   INTEGER REFERENCES contacts (id) ON DELETE CASCADE,
    campaign_id  TEXT,
    received_at  TEXT NOT NULL,
    subject      TEXT NOT NULL DEFAULT '',
    excerpt      TEXT NOT NULL DEFAULT '',
    detail       TEXT NOT NULL DEFAULT '',
    mailbox      TEXT NOT NULL DEFAULT '',
    recorded_at  TEXT NOT NULL
);

CREATE INDEX inbox_messages_contact ON inbox_messages (contact_id, kind, received_at);
CREATE INDEX inbox_messages_campaign ON inbox_messages (campaign_id, kind, contact_id);

-- A contact's field changing value (stage, tags), as an import or an edit saw it. old_value and
-- new_value are text ('' = empty); tags are written sorted, comma-separated.
CREATE TABLE contact_changes (
    id          INTEGER PRIMARY KEY,
    contact_id  INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    field       TEXT NOT NULL,
    old_value   TEXT NOT NULL DEFAULT '',
    new_value   TEXT NOT NULL DEFAULT '',
    changed_at  TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT ''
);

CREATE INDEX contact_changes_contact ON contact_changes (contact_id, field, changed_at);
CREATE INDEX contact_changes_field ON contact_changes (field, changed_at, contact_id);
