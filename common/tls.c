/* SPDX-License-Identifier: Apache-2.0 */
/* Loads PEM files, builds mTLS credentials and reads peers' SPIFFE identities. */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CO_TLS_MAX_FILE (1024 * 1024)

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "could not open \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(CO_TLS_MAX_FILE + 1);
    if (buf == NULL) {
        fclose(f);
        snprintf(err, errlen, "could not read \"%s\": out of memory", path);
        return NULL;
    }
    size_t n = fread(buf, 1, CO_TLS_MAX_FILE + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n == 0 || n > CO_TLS_MAX_FILE) {
        snprintf(err, errlen, "could not read \"%s\": %s", path,
                 bad ? "read error" : (n == 0 ? "empty file" : "larger than 1 MiB"));
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

co_err co_tls_load(const char *cert_path, const char *key_path, const char *ca_path,
                   co_tls_files *out, char *err, size_t errlen)
{
    co_tls_files f = {0};
    f.cert_pem = read_file(cert_path, err, errlen);
    if (f.cert_pem == NULL) {
        goto fail;
    }
    f.key_pem = read_file(key_path, err, errlen);
    if (f.key_pem == NULL) {
        goto fail;
    }
    f.ca_pem = read_file(ca_path, err, errlen);
    if (f.ca_pem == NULL) {
        goto fail;
    }
    *out = f;
    return CO_OK;
fail:
    co_tls_release(&f);
    return CO_ERR_INVALID_ARGUMENT;
}

void co_tls_release(co_tls_files *f)
{
    free(f->cert_pem);
    free(f->key_pem);
    free(f->ca_pem);
    f->cert_pem = f->key_pem = f->ca_pem = NULL;
}

grpc_server_credentials *co_tls_server_creds(const co_tls_files *f)
{
    grpc_ssl_pem_key_cert_pair pair = {.private_key = f->key_pem, .cert_chain = f->cert_pem};
    return grpc_ssl_server_credentials_create_ex(
        f->ca_pem, &pair, 1, GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY, NULL);
}

grpc_channel_credentials *co_tls_channel_creds(const co_tls_files *f)
{
    grpc_ssl_pem_key_cert_pair pair = {.private_key = f->key_pem, .cert_chain = f->cert_pem};
    return grpc_ssl_credentials_create(f->ca_pem, f->cert_pem != NULL ? &pair : NULL, NULL, NULL);
}

bool co_name_is_valid(const char *s, size_t len)
{
    if (len == 0 || len > 63 || !(s[0] >= 'a' && s[0] <= 'z')) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
            return false;
        }
    }
    return true;
}

bool co_spiffe_parse(const char *uri, size_t len, const char *trust_domain, co_spiffe_kind *kind,
                     char *name, size_t namelen)
{
    static const char scheme[] = "spiffe://";
    const size_t sl = sizeof scheme - 1;
    size_t tdl = strlen(trust_domain);
    if (len < sl + tdl + 2 || memcmp(uri, scheme, sl) != 0 ||
        memcmp(uri + sl, trust_domain, tdl) != 0 || uri[sl + tdl] != '/') {
        return false;
    }
    const char *p = uri + sl + tdl + 1;
    size_t rest = len - (sl + tdl + 1);
    static const struct {
        const char *seg;
        co_spiffe_kind kind;
    } kinds[] = {
        {"partner/", CO_SPIFFE_PARTNER},
        {"service/", CO_SPIFFE_SERVICE},
        {"admin/", CO_SPIFFE_ADMIN},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t kl = strlen(kinds[i].seg);
        if (rest > kl && memcmp(p, kinds[i].seg, kl) == 0) {
            const char *n = p + kl;
            size_t nl = rest - kl;
            if (!co_name_is_valid(n, nl) || nl >= namelen) {
                return false;
            }
            memcpy(name, n, nl);
            name[nl] = '\0';
            *kind = kinds[i].kind;
            return true;
        }
    }
    return false;
}

bool co_tls_peer_spiffe_id(grpc_call *call, char *buf, size_t buflen)
{
    grpc_auth_context *ac = grpc_call_auth_context(call);
    if (ac == NULL) {
        return false;
    }
    bool ok = false;
    if (grpc_auth_context_peer_is_authenticated(ac)) {
        grpc_auth_property_iterator it =
            grpc_auth_context_find_properties_by_name(ac, GRPC_PEER_SPIFFE_ID_PROPERTY_NAME);
        const grpc_auth_property *prop = grpc_auth_property_iterator_next(&it);
        if (prop != NULL && prop->value_length > 0 && prop->value_length < buflen &&
            memchr(prop->value, '\0', prop->value_length) == NULL) {
            memcpy(buf, prop->value, prop->value_length);
            buf[prop->value_length] = '\0';
            ok = true;
        }
    }
    grpc_auth_context_release(ac);
    return ok;
}
