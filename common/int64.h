/* SPDX-License-Identifier: Apache-2.0 */
/* Overflow-checked int64 arithmetic for points and money: the only way they are computed. */
#ifndef CO_INT64_H
#define CO_INT64_H

#include <stdbool.h>
#include <stdint.h>

/* Each helper writes *out only on success and returns false on overflow (or division by
 * zero); all are pure and thread-safe. */

static inline bool co_add64(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) {
        return false;
    }
    *out = r;
    return true;
}

static inline bool co_sub64(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) {
        return false;
    }
    *out = r;
    return true;
}

static inline bool co_mul64(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) {
        return false;
    }
    *out = r;
    return true;
}

/* a * num / den rounded toward negative infinity, computed in 128 bits so that the product
 * may exceed int64 as long as the quotient fits. */
bool co_muldiv_floor64(int64_t a, int64_t num, int64_t den, int64_t *out);

/* a * bps / 10000 rounded toward negative infinity (basis points). */
bool co_bps_floor64(int64_t a, int64_t bps, int64_t *out);

/* a / q rounded half to even (banker's rounding); q > 0. Used for statement rounding only. */
bool co_div_half_even64(int64_t a, int64_t q, int64_t *out);

#endif
