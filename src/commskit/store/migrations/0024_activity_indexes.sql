-- The activity predicates of segments (received("CAMPAIGN") within 30d, replied within 30d …)
-- compile to `c.id IN (SELECT contact_id FROM … WHERE …)`, evaluated once per count: these
-- covering indexes make each subquery one range scan by (what, when) that never reads the
-- table. stage_changed uses contact_changes_field (0019) or the one below, replied("CAMPAIGN")
-- inbox_messages_campaign (0019), bounced bounce_events_email_hash (0009), unsubscribed the
-- suppressions' key.
CREATE INDEX send_log_activity ON send_log (campaign_id, status, sent_at, contact_id);
CREATE INDEX send_log_sent_contact ON send_log (status, sent_at, contact_id);
CREATE INDEX inbox_messages_kind ON inbox_messages (kind, received_at, contact_id);
-- stage_changed("joined") since …: by the new value, then the time
CREATE INDEX contact_changes_value ON contact_changes (field, new_value, changed_at, contact_id);
