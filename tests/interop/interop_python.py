#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Interop scenario with Debian's python3-grpcio: the gateway over mutual TLS, from the protoset.

Run by ctest through test-stack (tests/interop/tests.cmake), which starts the stack and sets
COALITION_TEST_GATEWAY, COALITION_TEST_GATEWAY_HEALTH, COALITION_TEST_PKI and
COALITION_TEST_PROTOSET. Prints one line per check and "N passed, M failed"; exits 1 on failure.
"""
import datetime
import os
import sys
import time
import uuid

import grpc

import coalition_client as cc

PARTNERS = "coalition.v1.Partners"
TRUST_DOMAIN = os.environ.get("COALITION_TEST_TRUST_DOMAIN", "coalition.local")
OK = grpc.StatusCode.OK
outcome = cc.outcome


def ts(value):
    """Seconds since the epoch of an RFC 3339 timestamp from the JSON mapping."""
    v = value.replace("Z", "+00:00")
    if "." in v:  # fromisoformat before 3.11 wants 3 or 6 fractional digits
        head, rest = v.split(".", 1)
        frac, tz = rest[:rest.index("+")], rest[rest.index("+"):]
        v = "%s.%s%s" % (head, (frac + "000000")[:6], tz)
    return datetime.datetime.fromisoformat(v).timestamp()


def main():
    t = cc.Checks()
    run = uuid.uuid4().hex[:12]
    admin = cc.from_env("admin-operator")
    bakery = cc.from_env("partner-bakery")

    def step(fn):
        try:
            fn()
        except Exception as e:  # a bug in a step must not hide the remaining steps
            t.check("%s ran to the end" % fn.__name__, False, "%s: %s" % (type(e).__name__, e))

    # 1. health on the plaintext health listener
    def health():
        h = cc.health_from_env()
        try:
            for svc in ("", PARTNERS):
                code, st, details = outcome(h.health, svc)
                t.check("health Check %r -> SERVING" % svc, code == OK and st == "SERVING",
                        "got %s %r %s" % (code.name, st, details))
            t.status("health Check 'coalition.v1.NoSuchService'",
                     outcome(h.health, "coalition.v1.NoSuchService"), grpc.StatusCode.NOT_FOUND)
        finally:
            h.close()

    # The gateway does not know bakery yet: refused, and the refusal is cached (at most 1 s).
    def before_registration():
        t.status("bakery before registration", outcome(bakery.call, PARTNERS, "GetPartner", {}),
                 grpc.StatusCode.UNAUTHENTICATED)

    # 2./3. RegisterPartner, idempotent by request_id
    reg_req = {
        "request_id": "interop-py-register-" + run,
        "partner_id": "bakery",
        "name": "Bäckerei Interop",
        "settlement_currency": "EUR",
        "contact": {"name": "Ada Baker", "email": "ada@bakery.example", "phone": "+4930123456"},
    }
    state = {}

    def register():
        t0 = time.time()
        code, resp, details = outcome(admin.call, PARTNERS, "RegisterPartner", reg_req)
        state["registered_at"] = time.monotonic()
        if not t.check("admin RegisterPartner bakery -> OK", code == OK,
                       "got %s %r" % (code.name, details)):
            return
        state["register"] = resp
        p = resp.get("partner", {})
        t.check("registered partner_id", p.get("partner_id") == "bakery", repr(p))
        t.check("registered name", p.get("name") == reg_req["name"], repr(p.get("name")))
        t.check("registered status PENDING", p.get("status") == "PARTNER_STATUS_PENDING",
                repr(p.get("status")))
        want_id = "spiffe://%s/partner/bakery" % TRUST_DOMAIN
        t.check("registered certificate_identity defaults to %s" % want_id,
                p.get("certificate_identity") == want_id, repr(p.get("certificate_identity")))
        t.check("registered settlement_currency", p.get("settlement_currency") == "EUR",
                repr(p.get("settlement_currency")))
        t.check("registered contact", p.get("contact") == reg_req["contact"],
                repr(p.get("contact")))
        t.check("registered status_reason empty", p.get("status_reason", "") == "",
                repr(p.get("status_reason")))
        try:
            ct, ut = ts(p["create_time"]), ts(p["update_time"])
            t.check("registered create_time is now and update_time equals it",
                    abs(ct - t0) < 300 and ut == ct, "%s %s" % (p["create_time"], p["update_time"]))
        except (KeyError, ValueError) as e:
            t.check("registered timestamps present", False, "%s in %r" % (e, p))

    def register_again():
        code, resp, details = outcome(admin.call, PARTNERS, "RegisterPartner", reg_req)
        t.check("same RegisterPartner again -> identical response",
                code == OK and resp == state.get("register"),
                "got %s %r %r" % (code.name, details, resp))
        other = dict(reg_req, name="Another Bakery")
        t.status("same request_id, other content",
                 outcome(admin.call, PARTNERS, "RegisterPartner", other),
                 grpc.StatusCode.ALREADY_EXISTS)
        dup = dict(reg_req, request_id="interop-py-register-dup-" + run)
        t.status("new request_id, partner_id taken",
                 outcome(admin.call, PARTNERS, "RegisterPartner", dup),
                 grpc.StatusCode.ALREADY_EXISTS)

    # 4. bakery reads itself (accepted within 2 s of registering despite the cached refusal)
    def bakery_self():
        start = state.get("registered_at", time.monotonic())
        attempts = 0
        while True:
            attempts += 1
            code, resp, details = outcome(bakery.call, PARTNERS, "GetPartner", {})
            if code != grpc.StatusCode.UNAUTHENTICATED or time.monotonic() - start >= 2.0:
                break
            time.sleep(0.1)
        t.check("bakery GetPartner {} -> OK (%d attempt(s), %.2f s after registering)"
                % (attempts, time.monotonic() - start), code == OK,
                "got %s %r" % (code.name, details))
        if code == OK:
            want = state.get("register", {}).get("partner")
            t.check("bakery GetPartner {} -> its own record as registered",
                    resp.get("partner") == want, "%r != %r" % (resp.get("partner"), want))

    # 5. a partner cannot act as admin, whatever metadata it sends
    def partner_not_admin():
        spoof = [("coalition-partner-id", "operator"), ("coalition-role", "admin")]
        t.status("bakery ListPartners", outcome(bakery.call, PARTNERS, "ListPartners", {}),
                 grpc.StatusCode.PERMISSION_DENIED)
        t.status("bakery ListPartners with admin metadata",
                 outcome(bakery.call, PARTNERS, "ListPartners", {}, metadata=spoof),
                 grpc.StatusCode.PERMISSION_DENIED)
        t.status("bakery GetPartner operator with admin metadata",
                 outcome(bakery.call, PARTNERS, "GetPartner", {"partner_id": "operator"},
                         metadata=spoof),
                 grpc.StatusCode.PERMISSION_DENIED)

    # 6. certificates the gateway must refuse
    def refused_certificates():
        c = cc.from_env("partner-ghost")
        t.status("partner-ghost (unregistered) GetPartner",
                 outcome(c.call, PARTNERS, "GetPartner", {}, timeout=5),
                 grpc.StatusCode.UNAUTHENTICATED)
        c.close()
        for ident, label in (("foreign-bakery", "foreign-bakery (other CA)"),
                             ("expired-bakery", "expired-bakery (expired certificate)"),
                             (None, "no client certificate")):
            c = cc.from_env(ident)
            t.status(label + " GetPartner, handshake refused",
                     outcome(c.call, PARTNERS, "GetPartner", {}, timeout=5),
                     grpc.StatusCode.UNAVAILABLE)
            c.close()

    # 7. activation and paging
    def activate_and_list():
        req = {"request_id": "interop-py-activate-" + run, "partner_id": "bakery",
               "status": "PARTNER_STATUS_ACTIVE", "reason": "interop: documents checked"}
        code, resp, details = outcome(admin.call, PARTNERS, "SetPartnerStatus", req)
        p = (resp or {}).get("partner", {})
        t.check("admin SetPartnerStatus bakery ACTIVE -> ACTIVE",
                code == OK and p.get("status") == "PARTNER_STATUS_ACTIVE",
                "got %s %r %r" % (code.name, details, resp))
        t.check("status_reason kept", p.get("status_reason") == req["reason"],
                repr(p.get("status_reason")))
        ids, token, pages, sizes_ok = [], "", 0, True
        while pages < 50:
            code, resp, details = outcome(admin.call, PARTNERS, "ListPartners",
                                          {"page_size": 1, "page_token": token})
            if code != OK:
                break
            pages += 1
            batch = resp.get("partners", [])
            sizes_ok = sizes_ok and len(batch) <= 1
            ids.extend(x.get("partner_id") for x in batch)
            token = resp.get("next_page_token", "")
            if not token:
                break
        t.check("ListPartners page_size 1 walked to the end (%d pages)" % pages,
                code == OK and token == "", "got %s %r, token %r" % (code.name, details, token))
        t.check("every page has at most 1 partner", sizes_ok)
        t.check("pages list operator and bakery, in order, once each: %s" % ids,
                "operator" in ids and "bakery" in ids and ids == sorted(set(ids)), repr(ids))
        code, resp, details = outcome(admin.call, PARTNERS, "GetPartner", {"partner_id": "bakery"})
        t.check("admin GetPartner bakery -> ACTIVE",
                code == OK and resp["partner"].get("status") == "PARTNER_STATUS_ACTIVE",
                "got %s %r %r" % (code.name, details, resp))

    # 8. what the gateway does with calls it cannot route or decode
    def bad_calls():
        t.status("unknown method coalition.v1.Partners/NoSuchMethod",
                 outcome(admin.raw, PARTNERS, "NoSuchMethod", b""),
                 grpc.StatusCode.UNIMPLEMENTED)
        t.status("unknown service coalition.v1.NoSuchService/Get",
                 outcome(admin.raw, "coalition.v1.NoSuchService", "Get", b""),
                 grpc.StatusCode.UNIMPLEMENTED)
        t.status("malformed bytes ff ff ff to GetPartner",
                 outcome(admin.raw, PARTNERS, "GetPartner", b"\xff\xff\xff"),
                 grpc.StatusCode.INVALID_ARGUMENT)
        t.status("malformed bytes ff ff ff to GetPartner as bakery",
                 outcome(bakery.raw, PARTNERS, "GetPartner", b"\xff\xff\xff"),
                 grpc.StatusCode.INVALID_ARGUMENT)

    # 9. a service that is not running: a prompt error within the deadline, never a hang
    def service_down():
        for who, c in (("admin", admin), ("bakery", bakery)):
            t0 = time.monotonic()
            got = outcome(c.call, "coalition.v1.Referrals", "GetReferralStats",
                          {"program_code": "interop-points"}, timeout=0.2)
            took = time.monotonic() - t0
            t.status("%s Referrals/GetReferralStats, service down, 200 ms deadline" % who, got,
                     (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED))
            t.check("%s Referrals/GetReferralStats returned within 2 s (%.3f s)" % (who, took), took < 2.0)
            # a client-side deadline may name the address the client dialed (the gateway)
            shown = got[2].replace(os.environ["COALITION_TEST_GATEWAY"], "<gateway>")
            t.check("%s Referrals/GetReferralStats error names no internal address" % who,
                    "127.0.0.1" not in shown and "ipv4:" not in shown, repr(got[2]))

    for s in (health, before_registration, register, register_again, bakery_self,
              partner_not_admin, refused_certificates, activate_and_list, bad_calls,
              service_down):
        step(s)
    admin.close()
    bakery.close()
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
