/* SPDX-License-Identifier: Apache-2.0 */
/* ISO 4217 currencies: which codes exist and how many minor units each has. */
#ifndef CO_CURRENCY_H
#define CO_CURRENCY_H

#include <stdbool.h>

/* True if code is an active ISO 4217 alphabetic code (three upper-case letters). */
bool co_currency_valid(const char *code);

/* Minor units of code (EUR 2, JPY 0, BHD 3), or -1 if unknown. */
int co_currency_minor_units(const char *code);

#endif
