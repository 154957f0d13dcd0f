/* SPDX-License-Identifier: Apache-2.0 */
/* Program configuration and member identities, cached so the hot path rarely leaves the
 * process: a program is refreshed by version at most every refresh_ms (a stale copy is served
 * while one caller refreshes), a member lookup is trusted for ttl_ms. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "coalition/internal/v1/members.pb-c.h"
#include "coalition/v1/accounts.pb-c.h"
#include "log.h"
#include "pb.h"
#include "pts.h"

#define PROG_SLOTS   1024
#define MEMBER_SLOTS 8192
/* Members that share a set do not evict each other until the set is full: with one slot per
 * hash, two of a thousand busy members colliding missed on nearly every earn. */
#define MEMBER_WAYS 4
#define MEMBER_SETS (MEMBER_SLOTS / MEMBER_WAYS)

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ s[i]) * 1099511628211ULL;
    }
    return h;
}

/* --- programs --- */

typedef struct prog_slot {
    char code[64];
    pts_prog *cur;
    int64_t checked_ms;
    bool refreshing;
} prog_slot;

struct pts_progs {
    pthread_mutex_t mu;
    co_client *partners;
    int64_t refresh_ms;
    prog_slot slots[PROG_SLOTS];
};

pts_progs *pts_progs_new(co_client *partners, int64_t refresh_ms)
{
    pts_progs *c = calloc(1, sizeof *c);
    if (c != NULL) {
        pthread_mutex_init(&c->mu, NULL);
        c->partners = partners;
        c->refresh_ms = refresh_ms;
    }
    return c;
}

void pts_prog_unref(pts_prog *p)
{
    if (p != NULL && atomic_fetch_sub(&p->refs, 1) == 1) {
        protobuf_c_message_free_unpacked(&p->snap->base, NULL);
        free(p);
    }
}

void pts_progs_free(pts_progs *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < PROG_SLOTS; i++) {
        pts_prog_unref(c->slots[i].cur);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* The slot of code: its own, or the first free one on its probe sequence; NULL when full. */
static prog_slot *prog_slot_of(pts_progs *c, const char *code)
{
    size_t h = (size_t)fnv1a(code, strlen(code));
    for (size_t i = 0; i < PROG_SLOTS; i++) {
        prog_slot *s = &c->slots[(h + i) % PROG_SLOTS];
        if (s->code[0] == '\0' || strcmp(s->code, code) == 0) {
            return s;
        }
    }
    return NULL;
}

/* Copies an arena-decoded snapshot into malloc'd memory that outlives the call. */
static pts_prog *prog_own(const Coalition__Internal__V1__GetProgramSnapshotResponse *r, co_arena *a)
{
    size_t len;
    uint8_t *bytes = co_pb_pack(&r->base, a, &len);
    if (bytes == NULL) {
        return NULL;
    }
    Coalition__Internal__V1__GetProgramSnapshotResponse *own =
        coalition__internal__v1__get_program_snapshot_response__unpack(NULL, len, bytes);
    if (own == NULL || own->program == NULL) {
        if (own != NULL) {
            protobuf_c_message_free_unpacked(&own->base, NULL);
        }
        return NULL;
    }
    pts_prog *p = calloc(1, sizeof *p);
    if (p == NULL) {
        protobuf_c_message_free_unpacked(&own->base, NULL);
        return NULL;
    }
    atomic_init(&p->refs, 1);
    p->version = own->version;
    p->snap = own;
    p->p = own->program;
    return p;
}

co_err pts_progs_get(pts_progs *c, const char *code, int64_t timeout_ms, pts_prog **out, char *why,
                     size_t whylen)
{
    if (strlen(code) >= sizeof c->slots[0].code) {
        snprintf(why, whylen, "program \"%s\" not found", code);
        return CO_ERR_NOT_FOUND;
    }
    int64_t now = mono_ms();
    pthread_mutex_lock(&c->mu);
    prog_slot *s = prog_slot_of(c, code);
    pts_prog *cached = NULL;
    if (s != NULL && s->cur != NULL) {
        cached = s->cur;
        if (now - s->checked_ms < c->refresh_ms || s->refreshing) {
            atomic_fetch_add(&cached->refs, 1);
            pthread_mutex_unlock(&c->mu);
            *out = cached;
            return CO_OK;
        }
        s->refreshing = true;
    }
    int64_t known = cached != NULL ? cached->version : 0;
    pthread_mutex_unlock(&c->mu);

    co_arena a;
    co_arena_init(&a, 64u << 20);
    Coalition__Internal__V1__GetProgramSnapshotRequest req =
        COALITION__INTERNAL__V1__GET_PROGRAM_SNAPSHOT_REQUEST__INIT;
    req.code = (char *)code;
    req.known_version = known;
    const co_client_md md = {CO_MD_ROLE, "service"};
    ProtobufCMessage *resp = NULL;
    co_client_status st;
    co_err e = co_client_unary(c->partners, "/coalition.internal.v1.Directory/GetProgramSnapshot",
                               &req.base,
                               &coalition__internal__v1__get_program_snapshot_response__descriptor,
                               &md, 1, timeout_ms < 5000 ? timeout_ms : 5000, true, &a, &resp, &st);
    pts_prog *fresh = NULL;
    bool unchanged = false;
    if (e == CO_OK) {
        const Coalition__Internal__V1__GetProgramSnapshotResponse *r = (const void *)resp;
        unchanged = r->unchanged && cached != NULL;
        if (!unchanged && (fresh = prog_own(r, &a)) == NULL) {
            e = CO_ERR_NOMEM;
        }
    }
    co_arena_release(&a);

    pthread_mutex_lock(&c->mu);
    if (s == NULL) {
        s = prog_slot_of(c, code);
    }
    if (s != NULL) {
        s->refreshing = false;
    }
    if (e == CO_OK && fresh != NULL && s != NULL) {
        if (s->cur == NULL || s->cur->version <= fresh->version) {
            snprintf(s->code, sizeof s->code, "%s", code);
            pts_prog *old = s->cur;
            s->cur = fresh;
            atomic_fetch_add(&fresh->refs, 1); /* the slot's and the caller's */
            s->checked_ms = now;
            pthread_mutex_unlock(&c->mu);
            pts_prog_unref(old);
            *out = fresh;
            return CO_OK;
        }
    }
    if (e == CO_OK && s != NULL && s->cur != NULL) {
        if (unchanged) {
            s->checked_ms = now;
        }
        pts_prog *p = s->cur;
        atomic_fetch_add(&p->refs, 1);
        pthread_mutex_unlock(&c->mu);
        pts_prog_unref(fresh);
        *out = p;
        return CO_OK;
    }
    if (e != CO_OK && e != CO_ERR_NOT_FOUND && s != NULL && s->cur != NULL) {
        /* The partners service is away: keep serving the version we have. */
        pts_prog *p = s->cur;
        atomic_fetch_add(&p->refs, 1);
        pthread_mutex_unlock(&c->mu);
        co_log(CO_LOG_WARN, "serving a cached program: partners service unavailable", "{s:s, s:s}",
               "program", code, "status", co_err_name(e));
        *out = p;
        return CO_OK;
    }
    pthread_mutex_unlock(&c->mu);
    pts_prog_unref(fresh);
    if (e == CO_ERR_NOT_FOUND) {
        snprintf(why, whylen, "program \"%s\" not found", code);
        return CO_ERR_NOT_FOUND;
    }
    if (e == CO_OK) {
        snprintf(why, whylen, "program cache full");
        return CO_ERR_RESOURCE_EXHAUSTED;
    }
    snprintf(why, whylen, "partners service unavailable: could not read program \"%s\"", code);
    return e == CO_ERR_DEADLINE_EXCEEDED ? e : CO_ERR_UNAVAILABLE;
}

const Coalition__V1__Participation *pts_prog_participation(const pts_prog *p,
                                                           const char *partner_id)
{
    for (size_t i = 0; i < p->snap->n_participations; i++) {
        if (strcmp(p->snap->participations[i]->partner_id, partner_id) == 0) {
            return p->snap->participations[i];
        }
    }
    return NULL;
}

/* --- members --- */

typedef struct member_slot {
    uint8_t key[32];
    bool used;
    int64_t expires_ms;
    pts_member m;
} member_slot;

/* A lookup that missed the cache, queued until a batch answers it. It lives on its caller's
 * stack: whoever answers it sets done under the mutex and never touches it again. */
typedef struct member_wait {
    const Coalition__V1__MemberRef *ref;
    uint8_t key[32];
    int64_t deadline_ms; /* monotonic; at most 5 s ahead */
    struct member_wait *next;
    bool queued; /* in the queue, not yet taken by a call */
    bool done;
    co_err e;
    char why[160];
    pts_member m;
} member_wait;

/* References per ResolveMembers call (the accounts service's limit) and calls in flight at
 * once: the misses that arrive while the calls are out wait and go together in the next. */
#define RESOLVE_BATCH 256
#define RESOLVERS     2

struct pts_members {
    pthread_mutex_t mu;
    pthread_cond_t answered;
    co_client *accounts;
    int64_t ttl_ms;
    member_wait *head, **tail; /* misses not yet sent */
    int resolving;             /* calls in flight */
    member_slot slots[MEMBER_SLOTS];
};

pts_members *pts_members_new(co_client *accounts, int64_t ttl_ms)
{
    pts_members *c = calloc(1, sizeof *c);
    if (c != NULL) {
        pthread_mutex_init(&c->mu, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the clock of mono_ms */
        pthread_cond_init(&c->answered, &ca);
        pthread_condattr_destroy(&ca);
        c->accounts = accounts;
        c->ttl_ms = ttl_ms;
        c->tail = &c->head;
    }
    return c;
}

void pts_members_free(pts_members *c)
{
    if (c != NULL) {
        pthread_cond_destroy(&c->answered);
        pthread_mutex_destroy(&c->mu);
        free(c);
    }
}

/* The cache key of a reference: a hash, so no identifier sits in memory in the clear. */
static void ref_key(const Coalition__V1__MemberRef *ref, uint8_t out[32])
{
    const char *v = "";
    switch (ref->ref_case) {
    case COALITION__V1__MEMBER_REF__REF_MEMBER_ID:
        v = ref->member_id;
        break;
    case COALITION__V1__MEMBER_REF__REF_CARD_NUMBER:
        v = ref->card_number;
        break;
    case COALITION__V1__MEMBER_REF__REF_PHONE:
        v = ref->phone;
        break;
    case COALITION__V1__MEMBER_REF__REF_EMAIL:
        v = ref->email;
        break;
    case COALITION__V1__MEMBER_REF__REF_QR_TOKEN:
        v = ref->qr_token;
        break;
    default:
        break;
    }
    size_t n = strlen(v);
    unsigned char buf[512];
    buf[0] = (unsigned char)ref->ref_case;
    if (n > sizeof buf - 1) {
        n = sizeof buf - 1; /* identifiers are far shorter; accounts refuses longer ones */
    }
    memcpy(buf + 1, v, n);
    SHA256(buf, n + 1, out);
}

static member_slot *member_set(pts_members *c, const uint8_t key[32])
{
    return &c->slots[(size_t)(fnv1a(key, 32) % MEMBER_SETS) * MEMBER_WAYS];
}

/* Under mu. */
static bool cache_get(pts_members *c, const uint8_t key[32], int64_t now, pts_member *out)
{
    const member_slot *set = member_set(c, key);
    for (size_t w = 0; w < MEMBER_WAYS; w++) {
        if (set[w].used && set[w].expires_ms > now && memcmp(set[w].key, key, 32) == 0) {
            *out = set[w].m;
            return true;
        }
    }
    return false;
}

/* Under mu: m, as accounts saw it when asked at `asked`, goes to the slot of this key if it is
 * still there, else a free one, else the oldest. It is trusted from `asked` on, and never
 * replaces the answer of a later call (two calls may end out of order). */
static void cache_put(pts_members *c, const uint8_t key[32], int64_t asked, const pts_member *m)
{
    member_slot *set = member_set(c, key);
    member_slot *s = &set[0];
    for (size_t w = 0; w < MEMBER_WAYS; w++) {
        if (set[w].used && memcmp(set[w].key, key, 32) == 0) {
            if (set[w].expires_ms > asked + c->ttl_ms) {
                return;
            }
            s = &set[w];
            break;
        }
        if (!set[w].used || (s->used && set[w].expires_ms < s->expires_ms)) {
            s = &set[w];
        }
    }
    memcpy(s->key, key, 32);
    s->used = true;
    s->expires_ms = asked + c->ttl_ms;
    s->m = *m;
}

static int64_t ts_us(const Google__Protobuf__Timestamp *t)
{
    return t == NULL ? 0 : t->seconds * 1000000 + t->nanos / 1000;
}

static void wait_fail(member_wait *w, co_err e, const char *why)
{
    w->e = e;
    snprintf(w->why, sizeof w->why, "%s", why);
}

/* Fills w from the accounts service's answer about its reference. */
static void wait_answer(member_wait *w, const Coalition__Internal__V1__ResolvedMember *r)
{
    switch (r->outcome) {
    case COALITION__INTERNAL__V1__RESOLVED_MEMBER__OUTCOME__FOUND:
        break;
    case COALITION__INTERNAL__V1__RESOLVED_MEMBER__OUTCOME__NOT_FOUND:
        wait_fail(w, CO_ERR_NOT_FOUND, "member not found");
        return;
    case COALITION__INTERNAL__V1__RESOLVED_MEMBER__OUTCOME__INVALID:
        wait_fail(w, CO_ERR_INVALID_ARGUMENT, r->error);
        return;
    default:
        wait_fail(w, CO_ERR_UNAVAILABLE, "accounts service returned no member");
        return;
    }
    pts_member *m = &w->m;
    memset(m, 0, sizeof *m);
    if (r->member_id[0] == '\0' || strlen(r->member_id) >= sizeof m->member_id) {
        wait_fail(w, CO_ERR_UNAVAILABLE, "accounts service returned no member");
        return;
    }
    snprintf(m->member_id, sizeof m->member_id, "%s", r->member_id);
    m->erased = r->status == COALITION__V1__MEMBER_STATUS__MEMBER_STATUS_ERASED;
    for (size_t i = 0; i < r->n_active_plans && m->nplans < 8; i++) {
        const Coalition__Internal__V1__ActivePlan *p = r->active_plans[i];
        if (strlen(p->plan_id) < sizeof m->plans[0].plan_id) {
            snprintf(m->plans[m->nplans].plan_id, sizeof m->plans[0].plan_id, "%s", p->plan_id);
            m->plans[m->nplans].end_us = ts_us(p->end_time);
            m->nplans++;
        }
    }
    w->e = CO_OK;
}

/* One ResolveMembers call for batch[0..n), made without the mutex. */
static void resolve_batch(pts_members *c, member_wait *const *batch, size_t n)
{
    int64_t deadline = 0;
    Coalition__V1__MemberRef *refs[RESOLVE_BATCH];
    for (size_t i = 0; i < n; i++) {
        refs[i] = (Coalition__V1__MemberRef *)batch[i]->ref;
        deadline = batch[i]->deadline_ms > deadline ? batch[i]->deadline_ms : deadline;
    }
    int64_t left = deadline - mono_ms();
    co_arena a;
    co_arena_init(&a, 8u << 20);
    Coalition__Internal__V1__ResolveMembersRequest req =
        COALITION__INTERNAL__V1__RESOLVE_MEMBERS_REQUEST__INIT;
    req.members = refs;
    req.n_members = n;
    const co_client_md md = {CO_MD_ROLE, "service"};
    ProtobufCMessage *resp = NULL;
    co_client_status st = {.details = ""};
    co_err e =
        co_client_unary(c->accounts, "/coalition.internal.v1.Members/ResolveMembers", &req.base,
                        &coalition__internal__v1__resolve_members_response__descriptor, &md, 1,
                        left < 1      ? 1
                        : left < 5000 ? left
                                      : 5000,
                        true, &a, &resp, &st);
    const Coalition__Internal__V1__ResolveMembersResponse *r = (const void *)resp;
    if (e == CO_OK && r->n_members != n) {
        co_log(CO_LOG_ERROR, "accounts answered the wrong number of references", "{s:i, s:i}",
               "asked", (int)n, "answered", (int)r->n_members);
        e = CO_ERR_INTERNAL;
    } else if (e != CO_OK && e != CO_ERR_DEADLINE_EXCEEDED) {
        co_log(CO_LOG_WARN, "could not resolve members", "{s:s, s:s}", "status", co_err_name(e),
               "details", st.details);
    }
    for (size_t i = 0; i < n; i++) {
        if (e == CO_OK) {
            wait_answer(batch[i], r->members[i]);
        } else {
            wait_fail(batch[i], e == CO_ERR_DEADLINE_EXCEEDED ? e : CO_ERR_UNAVAILABLE,
                      "accounts service unavailable: could not find the member");
        }
    }
    co_arena_release(&a);
}

/* Under mu: sends up to RESOLVE_BATCH queued misses in one call and answers them. The mutex is
 * released during the call. */
static void lead(pts_members *c)
{
    member_wait *batch[RESOLVE_BATCH];
    size_t n = 0;
    while (c->head != NULL && n < RESOLVE_BATCH) {
        batch[n] = c->head;
        batch[n++]->queued = false;
        c->head = c->head->next;
    }
    if (c->head == NULL) {
        c->tail = &c->head;
    }
    c->resolving++;
    pthread_mutex_unlock(&c->mu);
    int64_t asked = mono_ms();
    resolve_batch(c, batch, n);
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++) {
        if (batch[i]->e == CO_OK) {
            cache_put(c, batch[i]->key, asked, &batch[i]->m);
        }
        batch[i]->done = true; /* its owner may return as soon as the mutex is free */
    }
    c->resolving--;
    pthread_cond_broadcast(&c->answered);
}

/* Under mu: takes w, still queued, out of the queue. */
static void unqueue(pts_members *c, member_wait *w)
{
    member_wait **p = &c->head;
    while (*p != w) {
        p = &(*p)->next;
    }
    *p = w->next;
    if (c->tail == &w->next) {
        c->tail = p;
    }
    w->queued = false;
}

co_err pts_members_resolve(pts_members *c, const Coalition__V1__MemberRef *ref, int64_t timeout_ms,
                           pts_member *out, char *why, size_t whylen)
{
    member_wait w = {.ref = ref, .queued = true};
    ref_key(ref, w.key);
    int64_t now = mono_ms();
    w.deadline_ms = now + (timeout_ms < 1 ? 1 : timeout_ms < 5000 ? timeout_ms : 5000);
    pthread_mutex_lock(&c->mu);
    if (cache_get(c, w.key, now, out)) {
        pthread_mutex_unlock(&c->mu);
        return CO_OK;
    }
    /* w leaves the queue before it is answered or given up, and the queue's tail never points
     * at an entry that left, so nothing points into a returned frame. */
    *c->tail = &w;
    c->tail = &w.next; // cppcheck-suppress autoVariables
    /* A waiter whose miss is still queued sends the queue itself when fewer than RESOLVERS
     * calls are out; every call ends by waking the waiters, so a queued miss is never left
     * without a sender. A miss still queued at its deadline is given up; one already sent
     * waits for its call, which ends by the latest deadline in its batch (at most 5 s). */
    while (!w.done) {
        if (w.queued && c->resolving < RESOLVERS) {
            lead(c);
            continue;
        }
        if (!w.queued) {
            pthread_cond_wait(&c->answered, &c->mu);
            continue;
        }
        struct timespec until = {.tv_sec = w.deadline_ms / 1000,
                                 .tv_nsec = (long)(w.deadline_ms % 1000) * 1000000};
        if (pthread_cond_timedwait(&c->answered, &c->mu, &until) == ETIMEDOUT && w.queued) {
            unqueue(c, &w);
            pthread_mutex_unlock(&c->mu);
            snprintf(why, whylen,
                     "accounts service did not answer in time: could not find the "
                     "member");
            return CO_ERR_DEADLINE_EXCEEDED;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (w.e != CO_OK) {
        snprintf(why, whylen, "%s", w.why);
        return w.e;
    }
    *out = w.m;
    return CO_OK;
}
