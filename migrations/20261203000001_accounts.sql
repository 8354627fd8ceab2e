-- Accounts: the durable records behind a sign-in (src/accounts). A handle is unique by its key
-- (case-folded, confusable skeleton; src/accounts/handle_key.rs), so "Alice" and "аlice" cannot
-- both exist; the handle itself is kept as its owner wrote it.
CREATE TABLE accounts (
    id            uuid        PRIMARY KEY,
    handle        text        NOT NULL,
    handle_key    text        NOT NULL,
    name          text        NOT NULL,
    -- An Argon2id PHC string; NULL for an account that signs in only through single sign-on.
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_handle_key_unique UNIQUE (handle_key)
);
