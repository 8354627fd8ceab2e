-- Single sign-on identities: an account may be signed in to through an OpenID provider, which
-- names the person by (issuer, subject). First sign-in creates the account; a handle collision is
-- resolved by the person choosing another, never by merging accounts.
CREATE TABLE identities (
    issuer     text        NOT NULL,
    subject    text        NOT NULL,
    account_id uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX identities_account ON identities (account_id);
