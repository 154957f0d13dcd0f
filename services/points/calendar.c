/* SPDX-License-Identifier: Apache-2.0 */
/* Timer work that follows the calendar: tier reviews at members' anniversaries and birthday
 * bonuses on members' birthdays in each program's time zone. Both go through the executor, so
 * they are batched, locked and recorded like any other mutation. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coalition/internal/v1/members.pb-c.h"
#include "log.h"
#include "pts.h"

#define REVIEW_MAX_MEMBERS 1000
#define BIRTHDAY_PAGE      500
#define MAX_PROGRAMS       1000

/* Program codes (arena strings) a query returned in its first column. */
typedef struct codes {
    const char *name, *sql; /* sql has $1 (now) when nparams is 1 */
    int nparams;
    int64_t now_us;
    co_arena *a;
    char **v;
    size_t n;
} codes;

static co_err codes_tx(co_pg_conn *c, void *ud)
{
    codes *cs = ud;
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, cs->now_us);
    const char *v[1] = {now};
    PGresult *r;
    co_err e = co_pg_exec(c, pts_stmt(cs->name, cs->sql, cs->nparams), cs->nparams > 0 ? v : NULL,
                          NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    cs->n = 0;
    cs->v = co_arena_calloc(cs->a, (size_t)PQntuples(r) + 1, sizeof *cs->v);
    for (int i = 0; cs->v != NULL && i < PQntuples(r); i++) {
        cs->v[cs->n++] = co_arena_strdup(cs->a, PQgetvalue(r, i, 0));
    }
    PQclear(r);
    return cs->v != NULL ? CO_OK : CO_ERR_NOMEM;
}

void pts_tier_reviews(co_pg_pool *pool, pts_progs *progs, pts_exec *ex, int64_t now)
{
    co_arena a;
    co_arena_init(&a, 0);
    codes cs = {.name = "pts_tier_programs",
                .sql = "SELECT DISTINCT program FROM points.members WHERE tier_review_time <="
                       " timestamptz 'epoch' + $1::bigint * interval '1 microsecond' LIMIT 1000",
                .nparams = 1,
                .now_us = now,
                .a = &a};
    if (co_pg_tx(pool, 5000, codes_tx, &cs) == CO_OK) {
        for (size_t i = 0; i < cs.n; i++) {
            pts_op op;
            memset(&op, 0, sizeof op);
            op.kind = PTS_OP_TIERS;
            op.caller = CO_OPERATOR_ID;
            op.method = "timer/tier-review";
            op.request_id = "";
            op.as_of_us = now;
            op.expire_max = REVIEW_MAX_MEMBERS;
            char why[256];
            if (pts_progs_get(progs, cs.v[i], 5000, &op.prog, why, sizeof why) != CO_OK) {
                co_log(CO_LOG_WARN, "tier review", "{s:s, s:s}", "program", cs.v[i], "error", why);
                continue;
            }
            pts_exec_submit(ex, &op);
            if (op.err != CO_OK) {
                co_log(CO_LOG_WARN, "tier review", "{s:s, s:s}", "program", cs.v[i], "error",
                       op.message);
            }
            free(op.resp);
            pts_prog_unref(op.prog);
        }
    }
    co_arena_release(&a);
}

/* --- birthdays --- */

/* The last local date (yyyymmdd) each program's birthdays were done for. */
struct pts_birthdays {
    size_t n;
    struct {
        char program[64];
        int date;
    } done[MAX_PROGRAMS];
};

pts_birthdays *pts_birthdays_new(void)
{
    return calloc(1, sizeof(pts_birthdays));
}

void pts_birthdays_free(pts_birthdays *bd)
{
    free(bd);
}

static int *done_slot(pts_birthdays *bd, const char *program)
{
    for (size_t i = 0; i < bd->n; i++) {
        if (strcmp(bd->done[i].program, program) == 0) {
            return &bd->done[i].date;
        }
    }
    if (bd->n == MAX_PROGRAMS || strlen(program) >= sizeof bd->done[0].program) {
        return NULL;
    }
    snprintf(bd->done[bd->n].program, sizeof bd->done[0].program, "%s", program);
    bd->done[bd->n].date = 0;
    return &bd->done[bd->n++].date;
}

/* One program's day: its local date, then which of the accounts service's members born on
 * that day have an account in it and no bonus for the year yet. */
typedef struct day_args {
    const char *program, *zone;
    int64_t now_us;
    int year, month, day;
    /* the candidates (in) and those to credit (out) */
    const char *const *ids;
    size_t nids;
    co_arena *a;
    char **due;
    size_t ndue;
} day_args;

static co_err local_date_tx(co_pg_conn *c, void *ud)
{
    day_args *d = ud;
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, d->now_us);
    const char *v[2] = {now, d->zone[0] != '\0' ? d->zone : "UTC"};
    PGresult *r;
    co_err e = co_pg_exec(c,
                          pts_stmt("pts_local_date",
                                   "SELECT to_char((timestamptz 'epoch' + $1::bigint * interval"
                                   " '1 microsecond') AT TIME ZONE $2, 'YYYY MM DD')",
                                   2),
                          v, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    int n = sscanf(PQgetvalue(r, 0, 0), "%d %d %d", &d->year, &d->month, &d->day);
    PQclear(r);
    return n == 3 ? CO_OK : CO_ERR_INTERNAL;
}

/* A text[] literal of ids, which are member ids (member_id_ok): nothing to quote. */
static char *ids_literal(co_arena *a, const char *const *ids, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++) {
        len += strlen(ids[i]) + 3;
    }
    char *s = co_arena_alloc(a, len);
    if (s == NULL) {
        return NULL;
    }
    size_t k = 0;
    s[k++] = '{';
    for (size_t i = 0; i < n; i++) {
        k += (size_t)snprintf(s + k, len - k, "%s\"%s\"", i > 0 ? "," : "", ids[i]);
    }
    s[k++] = '}';
    s[k] = '\0';
    return s;
}

static co_err due_tx(co_pg_conn *c, void *ud)
{
    day_args *d = ud;
    char year[16];
    snprintf(year, sizeof year, "%d", d->year);
    const char *lit = ids_literal(d->a, d->ids, d->nids);
    if (lit == NULL) {
        return CO_ERR_NOMEM;
    }
    const char *v[3] = {d->program, lit, year};
    PGresult *r;
    co_err e = co_pg_exec(c,
                          pts_stmt("pts_birthday_due",
                                   "SELECT member_id FROM points.members WHERE program = $1 AND"
                                   " member_id = ANY($2::text[]) AND birthday_year < $3::int"
                                   " ORDER BY member_id",
                                   3),
                          v, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    d->ndue = 0;
    d->due = co_arena_calloc(d->a, (size_t)PQntuples(r) + 1, sizeof *d->due);
    for (int i = 0; d->due != NULL && i < PQntuples(r); i++) {
        d->due[d->ndue++] = co_arena_strdup(d->a, PQgetvalue(r, i, 0));
    }
    PQclear(r);
    return d->due != NULL ? CO_OK : CO_ERR_NOMEM;
}

/* A member id as the accounts service makes them: "m" and 32 hex digits. */
static bool member_id_ok(const char *s)
{
    return strlen(s) == 33 && s[0] == 'm' && strspn(s + 1, "0123456789abcdef") == 32;
}

/* Credits the birthday bonus of the year to each member in d->due; false if one could not be
 * done (the day is then tried again). */
static bool credit_due(pts_exec *ex, pts_prog *prog, const day_args *d)
{
    const Coalition__V1__Program *p = prog->p;
    bool ok = true;
    for (size_t i = 0; i < d->ndue; i++) {
        pts_op op;
        memset(&op, 0, sizeof op);
        op.kind = PTS_OP_CREDIT;
        op.caller = p->owner_partner_id;
        op.method = "timer/birthday";
        op.request_id = "";
        op.prog = prog;
        snprintf(op.member.member_id, sizeof op.member.member_id, "%s", d->due[i]);
        op.points = p->birthday_bonus_points;
        op.credit_kind = COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_BONUS;
        op.reason = "birthday";
        op.birthday_year = d->year;
        pts_exec_submit(ex, &op);
        free(op.resp);
        if (op.err != CO_OK && op.err != CO_ERR_ALREADY_EXISTS) {
            co_log(CO_LOG_WARN, "birthday bonus", "{s:s, s:s, s:s}", "program", p->code, "member",
                   d->due[i], "error", op.message);
            ok = false;
        }
    }
    return ok;
}

/* Members born on month/day, page by page from the accounts service, credited. */
static bool birthdays_on(pts_exec *ex, co_pg_pool *pool, co_client *accounts, pts_prog *prog,
                         const day_args *d, int month, int day)
{
    Coalition__Internal__V1__ListBirthdaysRequest req =
        COALITION__INTERNAL__V1__LIST_BIRTHDAYS_REQUEST__INIT;
    req.month = month;
    req.day = day;
    req.page_size = BIRTHDAY_PAGE;
    char after[40] = "";
    bool ok = true;
    for (;;) {
        co_arena a;
        co_arena_init(&a, 0);
        req.after_member_id = after;
        const co_client_md md = {CO_MD_ROLE, "service"};
        ProtobufCMessage *resp = NULL;
        co_client_status st;
        co_err e =
            co_client_unary(accounts, "/coalition.internal.v1.Members/ListBirthdays", &req.base,
                            &coalition__internal__v1__list_birthdays_response__descriptor, &md, 1,
                            5000, true, &a, &resp, &st);
        if (e != CO_OK) {
            co_log(CO_LOG_WARN, "birthday bonus", "{s:s, s:s}", "program", d->program, "error",
                   "accounts service unavailable: could not list birthdays");
            co_arena_release(&a);
            return false;
        }
        const Coalition__Internal__V1__ListBirthdaysResponse *r = (const void *)resp;
        size_t n = 0;
        for (size_t i = 0; i < r->n_member_ids; i++) {
            if (member_id_ok(r->member_ids[i])) {
                r->member_ids[n++] = r->member_ids[i];
            }
        }
        day_args page = *d;
        page.ids = (const char *const *)r->member_ids;
        page.nids = n;
        page.a = &a;
        if (n > 0 && co_pg_tx(pool, 5000, due_tx, &page) == CO_OK) {
            ok = credit_due(ex, prog, &page) && ok;
        } else if (n > 0) {
            ok = false;
        }
        bool more = r->more && r->n_member_ids > 0 &&
                    strlen(r->member_ids[r->n_member_ids - 1]) < sizeof after;
        if (more) {
            snprintf(after, sizeof after, "%s", r->member_ids[r->n_member_ids - 1]);
        }
        co_arena_release(&a);
        if (!more) {
            return ok;
        }
    }
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

void pts_birthday_sweep(pts_birthdays *bd, co_pg_pool *pool, pts_progs *progs, co_client *accounts,
                        pts_exec *ex, int64_t now)
{
    co_arena a;
    co_arena_init(&a, 0);
    codes cs = {.name = "pts_all_programs",
                .sql = "SELECT program FROM points.chains ORDER BY program LIMIT 1000",
                .now_us = now,
                .a = &a};
    if (co_pg_tx(pool, 5000, codes_tx, &cs) != CO_OK) {
        co_arena_release(&a);
        return;
    }
    for (size_t i = 0; i < cs.n; i++) {
        pts_prog *prog;
        char why[256];
        if (pts_progs_get(progs, cs.v[i], 5000, &prog, why, sizeof why) != CO_OK) {
            continue;
        }
        const Coalition__V1__Program *p = prog->p;
        day_args d = {.program = p->code, .zone = p->time_zone, .now_us = now};
        int *done = done_slot(bd, p->code);
        if (p->birthday_bonus_points <= 0 || done == NULL ||
            co_pg_tx(pool, 5000, local_date_tx, &d) != CO_OK) {
            pts_prog_unref(prog);
            continue;
        }
        int date = d.year * 10000 + d.month * 100 + d.day;
        if (*done != date) {
            bool ok = birthdays_on(ex, pool, accounts, prog, &d, d.month, d.day);
            if (d.month == 2 && d.day == 28 && !leap(d.year)) {
                ok = birthdays_on(ex, pool, accounts, prog, &d, 2, 29) && ok;
            }
            if (ok) {
                *done = date;
            }
        }
        pts_prog_unref(prog);
    }
    co_arena_release(&a);
}
