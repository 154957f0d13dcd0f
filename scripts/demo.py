#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# The local demo: the admin onboards two partners through the gateway; each partner uses it.
import os
import sys

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop"))
from coalition_client import from_env  # noqa: E402

P = "coalition.v1.Partners"


def show(what, fn, expect=None):
    """Runs one call and prints its outcome; expect names the refusal the demo shows."""
    try:
        result = fn()
        print("  %-7s %s" % ("ok" if expect is None else "UNEXPECTED", what))
        return result
    except grpc.RpcError as e:
        tag = "refused" if e.code().name == expect else "FAILED"
        print("  %-7s %s: %s %s" % (tag, what, e.code().name, e.details()))
        return None


def main():
    admin = from_env("admin-operator")
    print("demo: the coalition admin onboards two partners (request ids are fixed, so a second")
    print("demo: run replays the same answers: every mutation is idempotent)")
    partners = [
        ("bakery", "Corner Bakery", "EUR", "+4930123456"),
        ("fuelco", "FuelCo Stations", "EUR", "+4940654321"),
    ]
    for pid, name, cur, phone in partners:
        r = show("RegisterPartner %s" % pid, lambda: admin.call(P, "RegisterPartner", {
            "request_id": "demo-register-" + pid, "partner_id": pid, "name": name,
            "settlement_currency": cur,
            "contact": {"name": name + " desk", "email": "loyalty@%s.example" % pid, "phone": phone},
        }))
        if r:
            print("          -> %s %s, certificate %s" % (r["partner"]["partner_id"],
                  r["partner"]["status"], r["partner"]["certificate_identity"]))
        r = show("SetPartnerStatus %s ACTIVE" % pid, lambda: admin.call(P, "SetPartnerStatus", {
            "request_id": "demo-activate-" + pid, "partner_id": pid,
            "status": "PARTNER_STATUS_ACTIVE", "reason": "contract signed"}))
        if r:
            print("          -> %s" % r["partner"]["status"])

    print("demo: each partner calls with its own client certificate")
    for pid, *_ in partners:
        client = from_env("partner-" + pid)
        r = show("%s GetPartner (itself)" % pid, lambda: client.call(P, "GetPartner", {}))
        if r:
            print("          -> %s (%s)" % (r["partner"]["name"], r["partner"]["status"]))
    bakery = from_env("partner-bakery")
    show("bakery ListPartners (admin only)", lambda: bakery.call(P, "ListPartners", {}),
         "PERMISSION_DENIED")
    show("bakery GetPartner fuelco", lambda: bakery.call(P, "GetPartner", {"partner_id": "fuelco"}),
         "PERMISSION_DENIED")
    ghost = from_env("partner-ghost")
    show("an unregistered certificate", lambda: ghost.call(P, "GetPartner", {}),
         "UNAUTHENTICATED")

    print("demo: the admin lists the coalition, two per page")
    token, page = "", 1
    while True:
        r = admin.call(P, "ListPartners", {"page_size": 2, "page_token": token})
        for p in r.get("partners", []):
            print("  page %d: %-10s %-22s %s" % (page, p["partner_id"], p["name"], p["status"]))
        token = r.get("next_page_token", "")
        if not token:
            break
        page += 1
    print("demo: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
