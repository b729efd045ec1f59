-- The activity predicates of segments (received("CAMPAIGN") within 30d …) are EXISTS subqueries
-- per contact; this index makes received(…) one lookup by (contact, campaign, status, time)
-- instead of a scan of every message the contact was sent. replied, stage_changed, bounced and
-- unsubscribed use the indexes of 0019, 0009 and the suppressions' primary key.
CREATE INDEX send_log_contact_activity ON send_log (contact_id, campaign_id, status, sent_at);
