-- What commskit inbox looks up per message and the timelines read, each one index look-up.
--
-- A reply whose client dropped In-Reply-To is matched by its From address (the contact) to the
-- latest message we sent them (within 30 days): send_log by contact and time. The whole list's
-- timeline (contacts timeline --since 30d) reads the mail read back by time.
CREATE INDEX send_log_contact_sent ON send_log (contact_id, sent_at);
CREATE INDEX inbox_messages_received ON inbox_messages (received_at);
