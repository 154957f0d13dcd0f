-- SPDX-License-Identifier: Apache-2.0
-- The partner registry and the idempotency record of the partners service.

CREATE TABLE partners.partners (
    partner_id           text PRIMARY KEY CHECK (partner_id ~ '^[a-z][a-z0-9-]{0,62}$'),
    name                 text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    -- coalition.v1.PartnerStatus: 1 PENDING, 2 ACTIVE, 3 SUSPENDED
    status               smallint NOT NULL CHECK (status IN (1, 2, 3)),
    -- NULL only for the operator, whose admins are configured in the gateway.
    certificate_identity text UNIQUE CHECK (certificate_identity LIKE 'spiffe://%'),
    settlement_currency  text NOT NULL CHECK (settlement_currency ~ '^[A-Z]{3}$'),
    contact_name         text NOT NULL DEFAULT '',
    contact_email        text NOT NULL DEFAULT '',
    contact_phone        text NOT NULL DEFAULT '',
    status_reason        text NOT NULL DEFAULT '',
    create_time          timestamptz NOT NULL DEFAULT now(),
    update_time          timestamptz NOT NULL DEFAULT now()
);

-- The coalition itself is a partner: it owns the coalition-wide program and earns fees.
INSERT INTO partners.partners (partner_id, name, status, certificate_identity,
                               settlement_currency)
VALUES ('operator', 'Coalition operator', 2, NULL, 'EUR');

-- One row per (caller, request_id) of every mutation, written in the effect's transaction.
CREATE TABLE partners.idempotency (
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
