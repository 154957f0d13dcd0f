/* SPDX-License-Identifier: Apache-2.0 */
/* Rational and rounding helpers for points and money, in 128-bit intermediates. */
#include "int64.h"

bool co_muldiv_floor64(int64_t a, int64_t num, int64_t den, int64_t *out)
{
    if (den == 0) {
        return false;
    }
    __extension__ typedef __int128 i128;
    i128 p = (i128)a * num;
    i128 q = p / den;
    if ((p % den != 0) && ((p < 0) != (den < 0))) {
        q -= 1;
    }
    if (q > INT64_MAX || q < INT64_MIN) {
        return false;
    }
    *out = (int64_t)q;
    return true;
}

bool co_bps_floor64(int64_t a, int64_t bps, int64_t *out)
{
    return co_muldiv_floor64(a, bps, 10000, out);
}

bool co_div_half_even64(int64_t a, int64_t q, int64_t *out)
{
    if (q <= 0) {
        return false;
    }
    int64_t d = a / q;
    int64_t r = a % q;
    if (r < 0) {
        r += q;
        d -= 1;
    }
    /* Now a = d*q + r with 0 <= r < q. Compare 2r with q without overflow. */
    if (r > q - r || (r == q - r && (d % 2 != 0))) {
        if (d == INT64_MAX) {
            return false;
        }
        d += 1;
    }
    *out = d;
    return true;
}
