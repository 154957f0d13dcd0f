/* SPDX-License-Identifier: Apache-2.0 */
/* Coalition card numbers (prefix, random digits, Luhn check digit) and QR tokens. */
#ifndef ACCT_CARD_H
#define ACCT_CARD_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Digits of a card number, and the fixed coalition prefix every assigned number starts with. */
#define ACCT_CARD_DIGITS 16
#define ACCT_CARD_PREFIX "6370"

/* Characters of a QR token (base64url of 32 random bytes, no padding). */
#define ACCT_QR_CHARS 43

/* The Luhn check digit ('0'..'9') for the n digits of s. */
char acct_card_luhn_digit(const char *s, size_t n);

/* True if s is exactly 16 ASCII digits whose last is the Luhn check digit of the others. */
bool acct_card_valid(const char *s);

/*
 * Copies s without spaces into out (at least ACCT_CARD_DIGITS + 1 bytes) if what remains is a
 * valid card number; false (out untouched) otherwise.
 */
bool acct_card_normalize(const char *s, char out[ACCT_CARD_DIGITS + 1]);

/* A new card number: the prefix, random digits and the check digit. Thread-safe. */
co_err acct_card_generate(char out[ACCT_CARD_DIGITS + 1]);

/* A new QR token of ACCT_QR_CHARS characters [A-Za-z0-9_-]. Thread-safe. */
co_err acct_qr_generate(char out[ACCT_QR_CHARS + 1]);

#endif
