-- Rooms and who belongs to them (src/memberships): the durable records every door checks.
--
-- A room's `name` is its address (`/r/<name>`). Public rooms are named by people; private rooms
-- and direct conversations get an address no one can guess, so an outsider who tries one cannot
-- tell it from a room that does not exist.
CREATE TABLE rooms (
    name       text        PRIMARY KEY,
    kind       text        NOT NULL CHECK (kind IN ('public', 'private', 'direct')),
    title      text        NOT NULL,
    topic      text        NOT NULL DEFAULT '',
    created_by uuid        REFERENCES accounts (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- A direct conversation's people, their ids sorted and joined: one conversation per set.
    direct_key text        UNIQUE,
    CONSTRAINT rooms_direct_has_key CHECK ((kind = 'direct') = (direct_key IS NOT NULL))
);

CREATE TABLE memberships (
    room       text        NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    account_id uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role       text        NOT NULL CHECK (role IN ('owner', 'moderator', 'member')),
    joined_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room, account_id)
);
CREATE INDEX memberships_account ON memberships (account_id);

-- A ban keeps someone out of a room, public ones too, until it is lifted.
CREATE TABLE bans (
    room       text        NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    account_id uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    banned_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room, account_id)
);

-- Every moderation action: who did what, to whom or which message, and when. The actor and the
-- target are kept as ids with no reference, so the record outlives their accounts.
CREATE TABLE moderation_log (
    id             bigserial   PRIMARY KEY,
    room           text        NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    actor          uuid        NOT NULL,
    action         text        NOT NULL,
    target_account uuid,
    target_message text,
    detail         text        NOT NULL DEFAULT '',
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX moderation_log_room ON moderation_log (room, id);
