/* SPDX-License-Identifier: MIT */
/*
 * jwt - RS256 client assertions with OpenSSL; see jwt.h.  The private key
 * stays in memory in OpenSSL's structures and is never logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "jwt.h"
#include "secfile.h"
#include "xoauth2.h"

struct jwt_signer {
    EVP_PKEY *key;
    char x5t[64];
};

/* ossl_err - the last OpenSSL error as text */
static const char *ossl_err(void)
{
    static char buf[256];
    unsigned long e = ERR_get_error();

    if (!e)
        return "unknown error";
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
}

/* no_passphrase - OpenSSL's password callback: never ask (a daemon has no terminal, and
 * OpenSSL's default would prompt on one); remember that a passphrase was wanted */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag;
    *(int *)u = 1;
    return -1;
}

/* open_pem - a credential file as a stdio stream, opened by secfile_open's rules */
static FILE *open_pem(const char *what, const char *path, int private_, uid_t service_uid,
                      char *err, size_t errlen)
{
    int fd = secfile_open(what, path, private_, service_uid, err, errlen);
    FILE *f;

    if (fd < 0)
        return NULL;
    if ((f = fdopen(fd, "r")) == NULL) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        close(fd);
    }
    return f;
}

/* jwt_signer_load - certificate thumbprint and private key */
struct jwt_signer *jwt_signer_load(const char *cert_path, const char *key_path,
                                   uid_t service_uid, char *err, size_t errlen)
{
    struct jwt_signer *s = calloc(1, sizeof(*s));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    X509 *cert = NULL;
    FILE *f = NULL;
    int asked = 0;

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if ((f = open_pem("oauth_certificate", cert_path, 0, service_uid, err, errlen)) == NULL)
        goto fail;
    cert = PEM_read_X509(f, NULL, no_passphrase, &asked);
    fclose(f);
    if (!cert || !X509_digest(cert, EVP_sha1(), md, &mdlen)) {
        snprintf(err, errlen, "%s: not a PEM certificate (%s)", cert_path, ossl_err());
        goto fail;
    }
    /* the app registration's credential ends with the certificate: Entra refuses
     * assertions for it (AADSTS700027) at every request, so refuse it at start-up */
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
        struct tm tm;
        char when[32] = "?";

        if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
        snprintf(err, errlen,
                 "%s: the certificate expired on %s: make a new one and upload it to the app "
                 "registration",
                 cert_path, when);
        goto fail;
    }
    xoauth2_base64(md, mdlen, 1, s->x5t, sizeof(s->x5t));
    if ((f = open_pem("oauth_private_key", key_path, 1, service_uid, err, errlen)) == NULL)
        goto fail;
    s->key = PEM_read_PrivateKey(f, NULL, no_passphrase, &asked);
    fclose(f);
    if (!s->key && asked) {
        snprintf(err, errlen,
                 "%s: the private key is encrypted (has a passphrase), and sendas-tokend "
                 "cannot ask for one; store it unencrypted, mode 0600 "
                 "(openssl pkey -in %s -out NEWFILE)",
                 key_path, key_path);
        ERR_clear_error();
        goto fail;
    }
    if (!s->key || EVP_PKEY_base_id(s->key) != EVP_PKEY_RSA) {
        snprintf(err, errlen, "%s: not an unencrypted RSA private key in PEM", key_path);
        ERR_clear_error();
        goto fail;
    }
    if (X509_check_private_key(cert, s->key) != 1) {
        snprintf(err, errlen, "%s does not belong to the certificate %s", key_path, cert_path);
        ERR_clear_error();
        goto fail;
    }
    X509_free(cert);
    return s;
fail:
    X509_free(cert);
    jwt_signer_free(s);
    return NULL;
}

/* jwt_signer_free - release the key */
void jwt_signer_free(struct jwt_signer *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->key);
    free(s);
}

/* jwt_signer_x5t - the thumbprint */
const char *jwt_signer_x5t(const struct jwt_signer *s)
{
    return s->x5t;
}

/* json_safe - no quote, backslash or control character: the text goes into JSON as is */
static int json_safe(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == '"' || *v == '\\' || *v == 0x7f)
            return 0;
    return 1;
}

/* jwt_assertion - header.payload.signature */
char *jwt_assertion(const struct jwt_signer *s, const char *client_id, const char *audience,
                    time_t now, char *err, size_t errlen)
{
    char header[256], payload[2048], jti[40], sig64[1024], *out = NULL;
    char *input = NULL;
    unsigned char rnd[16], sig[1024];
    size_t siglen = sizeof(sig), h64len, p64len, inlen, outlen;
    EVP_MD_CTX *md = NULL;
    int n;

    if (!json_safe(client_id) || !json_safe(audience)) {
        snprintf(err, errlen, "client id or token endpoint holds characters JSON would escape");
        return NULL;
    }
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        snprintf(err, errlen, "no random bytes: %s", ossl_err());
        return NULL;
    }
    rnd[6] = (rnd[6] & 0x0f) | 0x40; /* a version 4 UUID */
    rnd[8] = (rnd[8] & 0x3f) | 0x80;
    snprintf(jti, sizeof(jti),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", rnd[0],
             rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], rnd[8], rnd[9], rnd[10],
             rnd[11], rnd[12], rnd[13], rnd[14], rnd[15]);
    n = snprintf(header, sizeof(header), "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t\":\"%s\"}",
                 s->x5t);
    if (n < 0 || (size_t)n >= sizeof(header))
        goto toolong;
    n = snprintf(payload, sizeof(payload),
                 "{\"aud\":\"%s\",\"iss\":\"%s\",\"sub\":\"%s\",\"jti\":\"%s\",\"nbf\":%lld,"
                 "\"iat\":%lld,\"exp\":%lld}",
                 audience, client_id, client_id, jti, (long long)now, (long long)now,
                 (long long)now + JWT_LIFETIME);
    if (n < 0 || (size_t)n >= sizeof(payload))
        goto toolong;
    inlen = (strlen(header) + 2) / 3 * 4 + 1 + (strlen(payload) + 2) / 3 * 4 + 1;
    if ((input = malloc(inlen)) == NULL)
        goto nomem;
    h64len = xoauth2_base64((const unsigned char *)header, strlen(header), 1, input, inlen);
    input[h64len] = '.';
    p64len = xoauth2_base64((const unsigned char *)payload, strlen(payload), 1,
                            input + h64len + 1, inlen - h64len - 1);
    inlen = h64len + 1 + p64len;
    if ((md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, s->key) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, inlen) != 1 ||
        siglen > sizeof(sig) ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, inlen) != 1) {
        snprintf(err, errlen, "signing failed: %s", ossl_err());
        goto done;
    }
    if (xoauth2_base64(sig, siglen, 1, sig64, sizeof(sig64)) == 0)
        goto toolong;
    outlen = inlen + 1 + strlen(sig64) + 1;
    if ((out = malloc(outlen)) == NULL)
        goto nomem;
    snprintf(out, outlen, "%.*s.%s", (int)inlen, input, sig64);
    goto done;
toolong:
    snprintf(err, errlen, "assertion too long");
    goto done;
nomem:
    snprintf(err, errlen, "out of memory");
done:
    EVP_MD_CTX_free(md);
    free(input);
    return out;
}
