#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# The local demo: the admin onboards two partners through the gateway; each partner uses it;
# members earn and redeem across them.
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
    points(admin, bakery, anna["card_number"])
    r = show("RecordFeedback (NPS 9, effort 2)", lambda: bakery.call(A, "RecordFeedback", {
        "request_id": "demo-feedback-anna", "member": {"card_number": anna["card_number"]},
        "program_code": "bakery-points", "nps_score": 9, "effort_score": 2}))
    if r:
        print("          -> feedback %s" % r["feedback"]["feedback_id"])


PT = "coalition.v1.Points"


def points(admin, bakery, anna_card):
    """The ledger: earn at the bakery, redeem at the fuel station, a till hold, verify."""
    fuelco = from_env("partner-fuelco")
    print("demo: fuelco takes part in the bakery's program; members earn and redeem across them")
    show("Partners.SetParticipation bakery-points fuelco", lambda: admin.call(
        P, "SetParticipation", {"request_id": "demo-part-fuelco", "program_code": "bakery-points",
                                "partner_id": "fuelco", "can_issue": True, "can_redeem": True}))
    member = {"card_number": anna_card}
    r = show("bakery Earn 23.40 EUR for Anna (card at the till)", lambda: bakery.call(
        PT, "Earn", {"request_id": "demo-earn-1", "member": member,
                     "program_code": "bakery-points",
                     "amount": {"amount_micros": 23400000, "currency": "EUR"}}))
    if r:
        print("          -> earned %s, balance %s" % (r.get("earned_points", 0),
                                                     r["balance"].get("available_points", 0)))
    r = show("fuelco Earn 61.00 EUR for Anna (a participant issues bakery points)",
             lambda: fuelco.call(PT, "Earn", {
                 "request_id": "demo-earn-2", "member": member, "program_code": "bakery-points",
                 "amount": {"amount_micros": 61000000, "currency": "EUR"}}))
    if r:
        print("          -> earned %s, balance %s" % (r.get("earned_points", 0),
                                                     r["balance"].get("available_points", 0)))
    r = show("fuelco Redeem 40 points at its till", lambda: fuelco.call(PT, "Redeem", {
        "request_id": "demo-redeem-1", "member": member, "program_code": "bakery-points",
        "points": 40}))
    if r:
        print("          -> worth %s micros EUR, balance %s" % (
            r["value"].get("amount_micros", 0), r["balance"].get("available_points", 0)))
    show("fuelco Redeem 100000 points (more than Anna has)", lambda: fuelco.call(PT, "Redeem", {
        "request_id": "demo-redeem-2", "member": member, "program_code": "bakery-points",
        "points": 100000}), "FAILED_PRECONDITION")
    r = show("bakery Redeem 10 points as a hold", lambda: bakery.call(PT, "Redeem", {
        "request_id": "demo-hold-1", "member": member, "program_code": "bakery-points",
        "points": 10, "hold": True}))
    if r:
        hold = r["hold"]["hold_id"]
        c = show("bakery CaptureHold 6 of 10", lambda: bakery.call(PT, "CaptureHold", {
            "request_id": "demo-capture-1", "hold_id": hold, "points": 6}))
        if c:
            print("          -> %s, balance %s" % (c["hold"]["status"],
                                                  c["balance"].get("available_points", 0)))
    r = show("VerifyLedger (admin)", lambda: admin.call(PT, "VerifyLedger", {}))
    if r:
        print("          -> ok %s, %s transfers checked" % (r.get("ok", False),
                                                          r.get("transfers_checked", 0)))


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
