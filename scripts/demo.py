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


A = "coalition.v1.Accounts"


def members(admin, bakery):
    """Members: the bakery enrolls two, finds one at the till, and records a survey answer."""
    print("demo: the bakery enrolls two members (personal data is stored encrypted)")
    people = [("anna", "+49 30 5550101", "Anna@Example.org", "Anna"),
              ("ben", "+49 30 5550202", "ben@example.org", "Ben")]
    enrolled = {}
    for key, phone, email, name in people:
        r = show("EnrollMember %s" % key, lambda: bakery.call(A, "EnrollMember", {
            "request_id": "demo-enroll-" + key, "phone": phone, "email": email,
            "display_name": name, "locale": "de-DE"}))
        if r:
            enrolled[key] = r["member"]
            print("          -> member %s, card %s" % (r["member"]["member_id"],
                                                      r["member"]["card_number"]))
    if "anna" not in enrolled:
        return
    anna = enrolled["anna"]
    r = show("GetMember by phone", lambda: bakery.call(A, "GetMember", {
        "member": {"phone": "+49305550101"}}))
    if r:
        print("          -> member %s" % r["member"]["member_id"])
    r = show("GetMember by card number", lambda: bakery.call(A, "GetMember", {
        "member": {"card_number": anna["card_number"]}}))
    if r:
        print("          -> member %s" % r["member"]["member_id"])
    show("Partners.CreateProgram bakery-points", lambda: admin.call(P, "CreateProgram", {
        "request_id": "demo-program-bakery-points", "program": {
            "code": "bakery-points", "name": "Bakery Points", "owner_partner_id": "bakery",
            "point_value_micros": 10000, "issuing_mode": "ISSUING_MODE_POSTPAID",
            "earn_rule": {"points_per_unit": {"num": 1, "den": 1}}}}))
    r = show("RecordFeedback (NPS 9, effort 2)", lambda: bakery.call(A, "RecordFeedback", {
        "request_id": "demo-feedback-anna", "member": {"card_number": anna["card_number"]},
        "program_code": "bakery-points", "nps_score": 9, "effort_score": 2}))
    if r:
        print("          -> feedback %s" % r["feedback"]["feedback_id"])


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

    members(admin, bakery)
    print("demo: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
