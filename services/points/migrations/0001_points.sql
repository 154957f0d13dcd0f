-- SPDX-License-Identifier: Apache-2.0
-- The points ledger (DESIGN section 3): accounts, append-only transfers with a hash chain per
-- program, lots and what each debit took from them, holds, the settlement outbox and the
-- idempotency record. Only the points service writes here, through its batch executor.

-- The head of each program's audit hash chain. Locking this row orders every writer of the
-- program; the batch executor takes it once per batch.
CREATE TABLE points.chains (
    program    text PRIMARY KEY,
    seq        bigint NOT NULL DEFAULT 0 CHECK (seq >= 0),
    last_hash  bytea NOT NULL
);

-- Every account of every program. Member accounts are "member:<id>" and "hold:<id>"; system
-- accounts "issuance:<partner>", "redemption:<partner>", "expiry", "exchange", "adjustment".
CREATE TABLE points.accounts (
    id          bigserial PRIMARY KEY,
    program     text NOT NULL,
    name        text NOT NULL,
    -- 1 member, 2 hold, 3 issuance, 4 redemption, 5 expiry, 6 exchange, 7 adjustment
    kind        smallint NOT NULL CHECK (kind BETWEEN 1 AND 7),
    member_id   text,
    partner_id  text,
    balance     bigint NOT NULL DEFAULT 0,
    -- Member accounts and the issuance accounts of prepaid issuers may not go below 0. The
    -- executor's netted update refuses it (a guarded UPDATE); only a REVERSE may leave a member
    -- negative. Hold accounts never go below 0 at all.
    guarded     boolean NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    UNIQUE (program, name),
    CHECK (kind <> 2 OR balance >= 0),
    CHECK ((kind IN (1, 2)) = (member_id IS NOT NULL))
);
CREATE INDEX accounts_member ON points.accounts (member_id) WHERE member_id IS NOT NULL;

-- Per member and program: what is not a balance.
CREATE TABLE points.members (
    program          text NOT NULL,
    member_id        text NOT NULL,
    account_id       bigint NOT NULL REFERENCES points.accounts (id),
    hold_account_id  bigint NOT NULL REFERENCES points.accounts (id),
    -- Set by the first earn that earned points (the welcome bonus is paid once).
    first_earn_time  timestamptz,
    -- EARN and BONUS points credited, net of their reversals.
    lifetime_earned  bigint NOT NULL DEFAULT 0,
    tier_code        text NOT NULL DEFAULT '',
    tier_since       timestamptz,
    PRIMARY KEY (program, member_id)
);

-- The ledger. Never updated or deleted (a trigger refuses it).
CREATE TABLE points.transfers (
    id                   bigserial PRIMARY KEY,
    program              text NOT NULL,
    seq                  bigint NOT NULL CHECK (seq >= 1),
    -- coalition.v1.TransferKind
    kind                 smallint NOT NULL CHECK (kind BETWEEN 1 AND 11),
    debit_id             bigint NOT NULL REFERENCES points.accounts (id),
    credit_id            bigint NOT NULL REFERENCES points.accounts (id),
    points               bigint NOT NULL CHECK (points > 0),
    partner_id           text NOT NULL,
    request_id           text NOT NULL DEFAULT '',
    member_id            text NOT NULL DEFAULT '',
    member_balance_after bigint NOT NULL DEFAULT 0,
    corrects_id          bigint REFERENCES points.transfers (id),
    hold_id              text NOT NULL DEFAULT '',
    purchase_micros      bigint,
    currency             text NOT NULL DEFAULT '',
    campaign_id          text NOT NULL DEFAULT '',
    reason               text NOT NULL DEFAULT '',
    program_version      bigint NOT NULL DEFAULT 0,
    -- key, value, key, value ... sorted by key
    metadata             text[] NOT NULL DEFAULT '{}',
    create_time          timestamptz NOT NULL,
    hash                 bytea NOT NULL CHECK (octet_length(hash) = 32),
    UNIQUE (program, seq),
    CHECK (debit_id <> credit_id)
);
CREATE INDEX transfers_member ON points.transfers (program, member_id, create_time)
    WHERE member_id <> '';
CREATE INDEX transfers_time ON points.transfers (program, create_time, seq);
CREATE INDEX transfers_corrects ON points.transfers (corrects_id) WHERE corrects_id IS NOT NULL;

CREATE FUNCTION points.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'points.transfers is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON points.transfers
    FOR EACH ROW EXECUTE FUNCTION points.refuse_change();

-- Earned points and what is left of them. A member's lot remainders sum to its available
-- balance (0 while it is negative): debits take from lots, soonest expiry first.
CREATE TABLE points.lots (
    id           bigserial PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES points.accounts (id),
    transfer_id  bigint NOT NULL REFERENCES points.transfers (id),
    expire_time  timestamptz,
    points       bigint NOT NULL CHECK (points > 0),
    remaining    bigint NOT NULL,
    CHECK (remaining >= 0 AND remaining <= points)
);
CREATE INDEX lots_open ON points.lots (account_id, expire_time) WHERE remaining > 0;
CREATE INDEX lots_expiring ON points.lots (expire_time) WHERE remaining > 0;

-- What a transfer took from (points > 0) or gave back to (points < 0, with of_transfer_id the
-- debit it gives back) each lot.
CREATE TABLE points.takes (
    transfer_id     bigint NOT NULL REFERENCES points.transfers (id),
    lot_id          bigint NOT NULL REFERENCES points.lots (id),
    points          bigint NOT NULL CHECK (points <> 0),
    of_transfer_id  bigint REFERENCES points.transfers (id),
    PRIMARY KEY (transfer_id, lot_id)
);
CREATE INDEX takes_of ON points.takes (of_transfer_id) WHERE of_transfer_id IS NOT NULL;

CREATE TABLE points.holds (
    hold_id          text PRIMARY KEY,
    program          text NOT NULL,
    member_id        text NOT NULL,
    partner_id       text NOT NULL,
    points           bigint NOT NULL CHECK (points > 0),
    captured_points  bigint NOT NULL DEFAULT 0 CHECK (captured_points >= 0),
    -- coalition.v1.HoldStatus: 1 ACTIVE, 2 CAPTURED, 3 VOIDED, 4 EXPIRED
    status           smallint NOT NULL CHECK (status BETWEEN 1 AND 4),
    hold_transfer_id bigint NOT NULL REFERENCES points.transfers (id),
    create_time      timestamptz NOT NULL,
    expire_time      timestamptz NOT NULL,
    close_time       timestamptz,
    CHECK (captured_points <= points),
    CHECK ((status = 1) = (close_time IS NULL))
);
CREATE INDEX holds_active ON points.holds (expire_time) WHERE status = 1;

-- The settlement outbox, written in the same transaction as the transfer that caused it.
CREATE TABLE points.settlement_events (
    id                bigserial PRIMARY KEY,
    -- coalition.v1.SettlementEventKind
    kind              smallint NOT NULL CHECK (kind BETWEEN 1 AND 4),
    program           text NOT NULL,
    payer_partner_id  text NOT NULL,
    payee_partner_id  text NOT NULL,
    points            bigint NOT NULL CHECK (points <> 0),
    unit_price_micros bigint NOT NULL CHECK (unit_price_micros >= 0),
    amount_micros     bigint NOT NULL,
    currency          text NOT NULL,
    transfer_id       bigint NOT NULL REFERENCES points.transfers (id),
    reverses_id       bigint REFERENCES points.settlement_events (id),
    create_time       timestamptz NOT NULL,
    ack_time          timestamptz,
    CHECK (payer_partner_id <> payee_partner_id),
    CHECK (amount_micros = points * unit_price_micros)
);
CREATE INDEX settlement_pending ON points.settlement_events (id) WHERE ack_time IS NULL;

CREATE TABLE points.idempotency (
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
