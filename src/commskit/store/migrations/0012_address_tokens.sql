-- Unsubscribe tokens for plain addresses (the digest's [digest] recipients): they are not
-- contacts, so a token names one of these rows instead of a contact id. Only the keyed hash of
-- the address is kept, as in the suppression list; the row's id is what the token signs.
CREATE TABLE address_tokens (
    id          INTEGER PRIMARY KEY,
    email_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);
