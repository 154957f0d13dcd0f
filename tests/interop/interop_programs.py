#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Program configuration from Debian's python3-grpcio through the gateway over mutual TLS: the
admin creates a program for bakery and lets fuelco issue it; each partner reads what it may,
and the version moves with every change.

Run by ctest through test-stack (tests/interop/tests.cmake). Prints one line per check and
"N passed, M failed"; exits 1 on failure.
"""
import sys
import time

import grpc

import coalition_client as cc

PARTNERS = "coalition.v1.Partners"
OK = grpc.StatusCode.OK

t = cc.Checks()
outcome = cc.outcome
check = t.check


def partner_client(identity):
    """A partner's client once the gateway accepts its (just registered) certificate."""
    client = cc.from_env(identity)
    for _ in range(30):
        code, _, _ = outcome(client.call, PARTNERS, "GetPartner", {})
        if code != grpc.StatusCode.UNAUTHENTICATED:
            break
        time.sleep(0.1)
    return client


def main():
    admin = cc.from_env("admin-operator")
    for pid in ("bakery", "fuelco"):
        code, _, details = outcome(admin.call, PARTNERS, "RegisterPartner",
                                   {"request_id": "interop-prog-reg-" + pid, "partner_id": pid,
                                    "name": pid.title(), "settlement_currency": "EUR"})
        check("admin registers %s" % pid, code == OK, "%s %s" % (code, details))
        code, _, details = outcome(admin.call, PARTNERS, "SetPartnerStatus",
                                   {"request_id": "interop-prog-act-" + pid, "partner_id": pid,
                                    "status": "PARTNER_STATUS_ACTIVE"})
        check("admin activates %s" % pid, code == OK, "%s %s" % (code, details))
    bakery = partner_client("partner-bakery")
    fuelco = partner_client("partner-fuelco")

    program = {
        "code": "py-crumbs", "name": "Crumbs", "owner_partner_id": "bakery",
        "point_value_micros": 10000, "issue_price_micros": 8000, "expiry_months": 24,
        "earn_rule": {"points_per_unit": {"num": 1, "den": 1}},
        "tier_basis": "TIER_BASIS_QUALIFYING_POINTS",
        "tiers": [{"code": "base", "name": "Base", "earn_multiplier_bps": 10000},
                  {"code": "gold", "name": "Gold", "min_qualifying_points": 1000,
                   "earn_multiplier_bps": 15000}],
        "issuing_mode": "ISSUING_MODE_POSTPAID",
    }
    create = {"request_id": "interop-prog-create", "program": program}
    code, made, details = outcome(admin.call, PARTNERS, "CreateProgram", create)
    if not check("admin creates a program owned by bakery", code == OK, "%s %s" % (code, details)):
        return
    version = int(made["program"].get("version", 0))
    check("a new program is at version 1", version == 1, repr(version))
    code, again, _ = outcome(admin.call, PARTNERS, "CreateProgram", create)
    check("CreateProgram replays by request_id", code == OK and again == made)
    code, _, _ = outcome(admin.call, PARTNERS, "CreateProgram",
                         {"request_id": "interop-prog-create",
                          "program": dict(program, name="Other")})
    check("same request_id, other content -> ALREADY_EXISTS",
          code == grpc.StatusCode.ALREADY_EXISTS)
    code, _, details = outcome(bakery.call, PARTNERS, "CreateProgram",
                               {"request_id": "interop-prog-by-bakery",
                                "program": dict(program, code="py-own")})
    check("a partner cannot create programs -> PERMISSION_DENIED",
          code == grpc.StatusCode.PERMISSION_DENIED, "%s %s" % (code, details))
    bad = dict(program, code="py-bad", tiers=[dict(t) for t in program["tiers"]])
    bad["tiers"][1]["earn_multiplier_bps"] = -1
    code, _, details = outcome(admin.call, PARTNERS, "CreateProgram",
                               {"request_id": "interop-prog-bad", "program": bad})
    check("a negative multiplier -> INVALID_ARGUMENT naming the field",
          code == grpc.StatusCode.INVALID_ARGUMENT and "earn_multiplier_bps" in details, details)

    code, got, details = outcome(bakery.call, PARTNERS, "GetProgram", {"program_code": "py-crumbs"})
    check("the owner reads its program", code == OK and got["program"]["name"] == "Crumbs",
          "%s %s" % (code, details))
    code, _, _ = outcome(fuelco.call, PARTNERS, "GetProgram", {"program_code": "py-crumbs"})
    check("another partner may not -> PERMISSION_DENIED",
          code == grpc.StatusCode.PERMISSION_DENIED)

    code, _, details = outcome(admin.call, PARTNERS, "SetParticipation",
                               {"request_id": "interop-prog-part", "program_code": "py-crumbs",
                                "partner_id": "fuelco", "can_issue": True, "can_redeem": True})
    check("admin lets fuelco issue and redeem", code == OK, "%s %s" % (code, details))
    code, got, details = outcome(fuelco.call, PARTNERS, "GetProgram", {"program_code": "py-crumbs"})
    check("the participant now reads it", code == OK, "%s %s" % (code, details))
    if code == OK:
        check("the participation bumped the version",
              int(got["program"].get("version", 0)) == version + 1, repr(got["program"]))
    code, listed, details = outcome(fuelco.call, PARTNERS, "ListPrograms", {})
    check("fuelco lists the program it participates in",
          code == OK and [p["code"] for p in listed.get("programs", [])] == ["py-crumbs"],
          "%s %s" % (code, details))
    for c in (admin, bakery, fuelco):
        c.close()


if __name__ == "__main__":
    main()
    sys.exit(t.finish())
