-- SPDX-License-Identifier: Apache-2.0
-- Members (personal data sealed with AES-256-GCM, identifiers found by HMAC-SHA256), their
-- consents, changes, memberships and feedback, the key check and the idempotency record.

CREATE TABLE accounts.members (
    member_id    text PRIMARY KEY CHECK (member_id ~ '^m[0-9a-f]{32}$'),
    -- coalition.v1.MemberStatus: 1 ACTIVE, 2 ERASED
    status       smallint NOT NULL CHECK (status IN (1, 2)),
    -- Keyed hashes of the normalized identifiers; NULL when absent or erased. UNIQUE makes the
    -- database itself refuse a second member with the same identifier (concurrent enrolments).
    card_hash    bytea UNIQUE,
    qr_hash      bytea UNIQUE,
    phone_hash   bytea UNIQUE,
    email_hash   bytea UNIQUE,
    -- Sealed values (version || nonce || ciphertext || tag), bound to column and member id.
    card_enc     bytea,
    qr_enc       bytea,
    phone_enc    bytea,
    email_enc    bytea,
    name_enc     bytea,
    birth_enc    bytea,
    locale       text NOT NULL DEFAULT '',
    enrolled_by  text NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now(),
    erase_time   timestamptz,
    erase_reason text,
    -- An erased member holds no personal data and no identifier.
    CHECK (status = 1 OR (card_hash IS NULL AND qr_hash IS NULL AND phone_hash IS NULL AND
                          email_hash IS NULL AND card_enc IS NULL AND qr_enc IS NULL AND
                          phone_enc IS NULL AND email_enc IS NULL AND name_enc IS NULL AND
                          birth_enc IS NULL))
);

-- The current consent per purpose.
CREATE TABLE accounts.consents (
    member_id   text NOT NULL REFERENCES accounts.members (member_id),
    purpose     smallint NOT NULL CHECK (purpose BETWEEN 1 AND 1000),
    granted     boolean NOT NULL,
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, purpose)
);

-- Every consent decision, with the partner that recorded it (deleted on erasure).
CREATE TABLE accounts.consent_events (
    event_id    bigserial PRIMARY KEY,
    member_id   text NOT NULL REFERENCES accounts.members (member_id),
    purpose     smallint NOT NULL,
    granted     boolean NOT NULL,
    partner_id  text NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_events_member ON accounts.consent_events (member_id, event_id);

-- Which fields each change touched and who made it; field names only, never values.
CREATE TABLE accounts.member_changes (
    change_id   bigserial PRIMARY KEY,
    member_id   text NOT NULL REFERENCES accounts.members (member_id),
    partner_id  text NOT NULL,
    fields      text NOT NULL,
    change_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX member_changes_member ON accounts.member_changes (member_id, change_id);

-- Paid (VIP) memberships of plans defined in the partners service.
CREATE TABLE accounts.memberships (
    membership_id   text PRIMARY KEY,
    member_id       text NOT NULL REFERENCES accounts.members (member_id),
    plan_id         text NOT NULL,
    program_code    text NOT NULL,
    program_owner   text NOT NULL,
    -- coalition.v1.MembershipStatus: 1 ACTIVE, 2 CANCELLED (ENDED is derived from end_time)
    status          smallint NOT NULL CHECK (status IN (1, 2)),
    start_time      timestamptz NOT NULL,
    end_time        timestamptz NOT NULL,
    last_fee_micros bigint NOT NULL CHECK (last_fee_micros >= 0),
    last_fee_currency text NOT NULL,
    sold_by         text NOT NULL,
    cancel_time     timestamptz,
    cancel_reason   text NOT NULL DEFAULT ''
);
CREATE INDEX memberships_member ON accounts.memberships (member_id, program_code);

-- Survey answers; the comment is personal data, sealed, and deleted on erasure.
CREATE TABLE accounts.feedback (
    feedback_id  text PRIMARY KEY,
    member_id    text NOT NULL REFERENCES accounts.members (member_id),
    program_code text NOT NULL,
    partner_id   text NOT NULL,
    nps          smallint CHECK (nps BETWEEN 0 AND 10),
    effort       smallint CHECK (effort BETWEEN 1 AND 7),
    comment_enc  bytea,
    create_time  timestamptz NOT NULL DEFAULT now(),
    CHECK (nps IS NOT NULL OR effort IS NOT NULL)
);
CREATE INDEX feedback_member ON accounts.feedback (member_id, create_time);
CREATE INDEX feedback_program ON accounts.feedback (program_code, create_time);

-- A known constant sealed under the key of the first start: a process started with another
-- key cannot open it and refuses to start.
CREATE TABLE accounts.key_check (
    id          smallint PRIMARY KEY CHECK (id = 1),
    sealed      bytea NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now()
);

-- One row per (caller, request_id) of every mutation, written in the effect's transaction.
-- Responses recorded here carry the member id only, never personal data.
CREATE TABLE accounts.idempotency (
    caller       text NOT NULL,
    request_id   text NOT NULL,
    method       text NOT NULL,
    request_hash bytea NOT NULL,
    -- gRPC status code of the recorded outcome; -1 while the first attempt is in flight.
    status       integer NOT NULL,
    message      text,
    response     bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, request_id)
);
