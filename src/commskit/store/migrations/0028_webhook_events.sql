-- Provider webhooks (issue 17 item 3): each event a provider posts (Brevo, Mailjet) is recorded
-- once, under a key derived from what the provider sent (provider, event, message, time), so a
-- retried or replayed post changes nothing. Only events about a message we sent are kept with
-- their send-log row; an address is never stored here (the send log has it).
CREATE TABLE webhook_events (
    id           INTEGER PRIMARY KEY,
    event_key    TEXT NOT NULL UNIQUE,     -- sha256 of provider, event, message id, address, time
    provider     TEXT NOT NULL,            -- 'brevo', 'mailjet'
    event        TEXT NOT NULL,            -- the provider's own event name
    kind         TEXT NOT NULL CHECK (kind IN
                   ('delivered', 'hard', 'soft', 'complaint', 'unsubscribe')),
    send_log_id  INTEGER,                  -- the message it is about; NULL: none of ours
    occurred_at  TEXT NOT NULL,            -- the provider's event time, UTC ISO 8601
    recorded_at  TEXT NOT NULL
);
CREATE INDEX webhook_events_send_log ON webhook_events (send_log_id);

-- What the provider last said became of a message: delivered, bounced, soft-bounced, complained,
-- unsubscribed (NULL: nothing heard). Shown in a contact's history next to its send status.
ALTER TABLE send_log ADD COLUMN delivery TEXT;
ALTER TABLE send_log ADD COLUMN delivery_at TEXT;
