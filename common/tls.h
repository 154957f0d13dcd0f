/* SPDX-License-Identifier: Apache-2.0 */
/* mTLS material, gRPC credentials built from it, and SPIFFE identities of peers. */
#ifndef CO_TLS_H
#define CO_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "err.h"

/* PEM texts of a process's certificate, key and trusted CA, owned by the struct. */
typedef struct co_tls_files {
    char *cert_pem;
    char *key_pem;
    char *ca_pem;
} co_tls_files;

/* Reads the three files (each at most 1 MiB). On failure writes a message naming the file to
 * err and leaves *out untouched. */
co_err co_tls_load(const char *cert_path, const char *key_path, const char *ca_path,
                   co_tls_files *out, char *err, size_t errlen);

/* Frees the PEM texts; safe on a zeroed struct. */
void co_tls_release(co_tls_files *f);

/* Server credentials that require and verify a client certificate signed by the CA.
 * The caller owns the result (grpc_server_credentials_release). */
grpc_server_credentials *co_tls_server_creds(const co_tls_files *f);

/* Client credentials presenting our certificate (none if cert_pem is NULL) and trusting only
 * the CA. */
grpc_channel_credentials *co_tls_channel_creds(const co_tls_files *f);

/* What a SPIFFE identity names. */
typedef enum co_spiffe_kind {
    CO_SPIFFE_PARTNER = 1,
    CO_SPIFFE_SERVICE,
    CO_SPIFFE_ADMIN,
} co_spiffe_kind;

/*
 * Parses "spiffe://<trust_domain>/<partner|service|admin>/<name>" of length len (not
 * necessarily NUL-terminated). The trust domain must equal trust_domain; the name is
 * 1-63 characters of [a-z0-9-] and starts with a letter. On success writes the kind and
 * the name (NUL-terminated, at most namelen-1 bytes) and returns true.
 */
bool co_spiffe_parse(const char *uri, size_t len, const char *trust_domain, co_spiffe_kind *kind,
                     char *name, size_t namelen);

/* True if s is a valid identifier name: 1-63 of [a-z0-9-], starting with a letter. */
bool co_name_is_valid(const char *s, size_t len);

/*
 * The SPIFFE id of the peer of call (the peer_spiffe_id property, present when the verified
 * certificate has exactly one URI SAN), copied into buf. Returns false if the connection is
 * not authenticated or the certificate has no single URI SAN.
 */
bool co_tls_peer_spiffe_id(grpc_call *call, char *buf, size_t buflen);

#endif
