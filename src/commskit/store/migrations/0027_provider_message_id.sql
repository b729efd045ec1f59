-- The provider's own id for a message it accepted (Brevo `messageId`, Mailjet `MessageID`,
-- Amazon SES `MessageId`): webhooks can match an event by it as well as by our Message-ID.
-- NULL for SMTP, the outbox, and messages sent before this migration.
ALTER TABLE send_log ADD COLUMN provider_message_id TEXT;

CREATE INDEX send_log_provider_message_id ON send_log (provider_message_id)
    WHERE provider_message_id IS NOT NULL;
