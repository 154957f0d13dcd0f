/* SPDX-License-Identifier: Apache-2.0 */
/* Card numbers with a Luhn check digit and random QR tokens. */
#include "card.h"

#include <stdint.h>
#include <string.h>

#include "crypto.h"

char acct_card_luhn_digit(const char *s, size_t n)
{
    /* Doubling starts from the rightmost digit, which the check digit will follow. */
    int sum = 0;
    bool dbl = true;
    for (size_t i = n; i > 0; i--) {
        int d = s[i - 1] - '0';
        if (dbl) {
            d *= 2;
            if (d > 9) {
                d -= 9;
            }
        }
        sum += d;
        dbl = !dbl;
    }
    return (char)('0' + (10 - sum % 10) % 10);
}

bool acct_card_valid(const char *s)
{
    if (strlen(s) != ACCT_CARD_DIGITS) {
        return false;
    }
    for (size_t i = 0; i < ACCT_CARD_DIGITS; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return acct_card_luhn_digit(s, ACCT_CARD_DIGITS - 1) == s[ACCT_CARD_DIGITS - 1];
}

bool acct_card_normalize(const char *s, char out[ACCT_CARD_DIGITS + 1])
{
    char buf[ACCT_CARD_DIGITS + 1];
    size_t n = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == ' ') {
            continue;
        }
        if (n == ACCT_CARD_DIGITS) {
            return false;
        }
        buf[n++] = *p;
    }
    buf[n] = '\0';
    if (!acct_card_valid(buf)) {
        return false;
    }
    memcpy(out, buf, sizeof buf);
    return true;
}

co_err acct_card_generate(char out[ACCT_CARD_DIGITS + 1])
{
    char buf[ACCT_CARD_DIGITS + 1];
    size_t plen = strlen(ACCT_CARD_PREFIX);
    memcpy(buf, ACCT_CARD_PREFIX, plen);
    for (size_t i = plen; i < ACCT_CARD_DIGITS - 1; i++) {
        uint8_t b;
        do { /* rejection sampling keeps the digits uniform */
            if (acct_random(&b, 1) != CO_OK) {
                return CO_ERR_INTERNAL;
            }
        } while (b >= 250);
        buf[i] = (char)('0' + b % 10);
    }
    buf[ACCT_CARD_DIGITS - 1] = acct_card_luhn_digit(buf, ACCT_CARD_DIGITS - 1);
    buf[ACCT_CARD_DIGITS] = '\0';
    memcpy(out, buf, sizeof buf);
    return CO_OK;
}

co_err acct_qr_generate(char out[ACCT_QR_CHARS + 1])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t r[33]; /* 32 random bytes + one zero byte of padding for the last group */
    if (acct_random(r, 32) != CO_OK) {
        return CO_ERR_INTERNAL;
    }
    r[32] = 0;
    size_t o = 0;
    for (size_t i = 0; i < 33 && o < ACCT_QR_CHARS; i += 3) {
        uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];
        for (int k = 3; k >= 0 && o < ACCT_QR_CHARS; k--) {
            out[o++] = b64[(v >> (6 * k)) & 63];
        }
    }
    out[ACCT_QR_CHARS] = '\0';
    return CO_OK;
}
