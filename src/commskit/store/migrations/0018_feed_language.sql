-- The language a feed declares (RSS <language>, Atom xml:lang, JSON Feed "language"), as a
-- BCP 47 tag ("en-US"); NULL when it declares none. Issue 13: a veille item from a feed in
-- another language than the message is marked lang="…" so screen readers switch voice.
ALTER TABLE feeds ADD COLUMN language TEXT;
