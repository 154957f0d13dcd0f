#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Accounts from Debian's python3-grpcio through the gateway over mutual TLS: enroll a member,
find it by phone and by card number, read it, erase it, and see every identifier stop working.

Run by ctest through test-stack (tests/interop/tests.cmake). Prints one line per check and
"N passed, M failed"; exits 1 on failure.
"""
import sys

import grpc

import coalition_client as cc

ACCOUNTS = "coalition.v1.Accounts"
PARTNERS = "coalition.v1.Partners"
OK = grpc.StatusCode.OK

t = cc.Checks()
outcome = cc.outcome
check = t.check


def main():
    admin = cc.from_env("admin-operator")
    code, _, details = outcome(admin.call, PARTNERS, "RegisterPartner",
                               {"request_id": "interop-acct-bakery", "partner_id": "bakery",
                                "name": "Bakery", "settlement_currency": "EUR"})
    check("admin registers bakery", code == OK, "%s %s" % (code, details))
    bakery = cc.from_env("partner-bakery")

    enroll = {"request_id": "interop-acct-enroll", "phone": "+49 30 5550 1234",
              "email": "Py.Member@Example.org", "display_name": "Py Member",
              "birth_date": {"year": 1990, "month": 4, "day": 1}}
    code, resp, details = outcome(bakery.call, ACCOUNTS, "EnrollMember", enroll)
    if not check("bakery enrolls a member", code == OK, "%s %s" % (code, details)):
        return
    m = resp["member"]
    member_id, card = m["member_id"], m["card_number"]
    check("phone normalized to E.164", m.get("phone") == "+493055501234", repr(m.get("phone")))
    check("email normalized", m.get("email") == "py.member@example.org", repr(m.get("email")))
    check("card number has 16 digits", len(card) == 16 and card.isdigit(), card)
    code, again, _ = outcome(bakery.call, ACCOUNTS, "EnrollMember", enroll)
    check("enrolment replays by request_id",
          code == OK and again["member"]["member_id"] == member_id)

    for label, ref in (("phone", {"phone": "+493055501234"}),
                       ("card number", {"card_number": card}),
                       ("member id", {"member_id": member_id}),
                       ("email", {"email": "PY.MEMBER@example.org"}),
                       ("qr token", {"qr_token": m["qr_token"]})):
        code, got, details = outcome(bakery.call, ACCOUNTS, "GetMember", {"member": ref})
        check("lookup by %s" % label,
              code == OK and got["member"]["member_id"] == member_id and
              got["member"].get("display_name") == "Py Member", "%s %s" % (code, details))

    code, _, _ = outcome(bakery.call, ACCOUNTS, "GetMember", {"member": {"phone": "12"}})
    check("malformed phone -> INVALID_ARGUMENT", code == grpc.StatusCode.INVALID_ARGUMENT)

    code, _, _ = outcome(bakery.call, ACCOUNTS, "EraseMember",
                         {"request_id": "interop-acct-erase", "member_id": member_id,
                          "reason": "ticket 42"})
    check("a partner may not erase -> PERMISSION_DENIED",
          code == grpc.StatusCode.PERMISSION_DENIED)
    code, erased, details = outcome(admin.call, ACCOUNTS, "EraseMember",
                                    {"request_id": "interop-acct-erase", "member_id": member_id,
                                     "reason": "ticket 42"})
    check("admin erases the member",
          code == OK and erased["member"].get("status") == "MEMBER_STATUS_ERASED" and
          not erased["member"].get("phone"), "%s %s" % (code, details))

    for label, ref in (("phone", {"phone": "+493055501234"}),
                       ("card number", {"card_number": card}),
                       ("email", {"email": "py.member@example.org"})):
        code, _, _ = outcome(bakery.call, ACCOUNTS, "GetMember", {"member": ref})
        check("erased: lookup by %s -> NOT_FOUND" % label, code == grpc.StatusCode.NOT_FOUND)
    code, got, _ = outcome(admin.call, ACCOUNTS, "GetMember", {"member": {"member_id": member_id}})
    check("erased: found by member id, nothing personal",
          code == OK and not got["member"].get("display_name") and
          got["member"].get("status") == "MEMBER_STATUS_ERASED")
    bakery.close()
    admin.close()


if __name__ == "__main__":
    main()
    sys.exit(t.finish())
