/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of jwt: the RS256 client assertion is verified here with
 * OpenSSL against the certificate; its header and claims are the ones the
 * Microsoft identity platform expects; a key file others can read is refused.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "unit.h"
#include "jwt.h"
#include "secfile.h"
#include "xoauth2.h"

#define CLIENT_ID "11111111-2222-3333-4444-555555555555"
#define AUD "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"

static char dir[64], cert_path[128], key_path[128], enc_path[128], fifo_path[128],
    expired_path[128];
static X509 *cert;

/* make_cert - an RSA key (0600) and a self-signed certificate in a temporary directory */
static void make_cert(void)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    X509_NAME *name;
    FILE *f;

    snprintf(dir, sizeof(dir), "/tmp/test_jwt.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
    snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
    ck_assert_ptr_nonnull(key);
    cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sendas", -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    ck_assert_int_gt(X509_sign(cert, key, EVP_sha256()), 0);
    ck_assert_ptr_nonnull(f = fopen(cert_path, "w"));
    PEM_write_X509(f, cert);
    fclose(f);
    umask(077);
    ck_assert_ptr_nonnull(f = fopen(key_path, "w"));
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    snprintf(enc_path, sizeof(enc_path), "%s/key-encrypted.pem", dir);
    ck_assert_ptr_nonnull(f = fopen(enc_path, "w"));
    PEM_write_PrivateKey(f, key, EVP_aes_256_cbc(), (unsigned char *)"pw", 2, NULL, NULL);
    fclose(f);
    snprintf(fifo_path, sizeof(fifo_path), "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(fifo_path, 0600), 0);
    /* the same key in a certificate that expired an hour ago */
    X509_gmtime_adj(X509_getm_notBefore(cert), -7200);
    X509_gmtime_adj(X509_getm_notAfter(cert), -3600);
    ck_assert_int_gt(X509_sign(cert, key, EVP_sha256()), 0);
    snprintf(expired_path, sizeof(expired_path), "%s/expired.pem", dir);
    ck_assert_ptr_nonnull(f = fopen(expired_path, "w"));
    PEM_write_X509(f, cert);
    fclose(f);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    ck_assert_int_gt(X509_sign(cert, key, EVP_sha256()), 0);
    EVP_PKEY_free(key);
}

static void remove_cert(void)
{
    unlink(cert_path);
    unlink(key_path);
    unlink(enc_path);
    unlink(fifo_path);
    unlink(expired_path);
    rmdir(dir);
    X509_free(cert);
}

/* b64url_decode - into out (NUL-terminated); returns the length */
static size_t b64url_decode(const char *in, size_t len, unsigned char *out, size_t outlen)
{
    char tmp[4096];
    size_t i, n;
    int r;

    ck_assert_uint_lt(len + 4, sizeof(tmp));
    for (i = 0; i < len; i++)
        tmp[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
    while (i % 4)
        tmp[i++] = '=';
    ck_assert_uint_le(i / 4 * 3 + 1, outlen);
    r = EVP_DecodeBlock(out, (const unsigned char *)tmp, (int)i);
    ck_assert_int_ge(r, 0);
    n = (size_t)r;
    while (i > len && n > 0) /* EVP_DecodeBlock counts the padding as zero bytes */
        i--, n--;
    out[n] = '\0';
    return n;
}

START_TEST(assertion_verifies_against_the_certificate)
{
    char err[256], x5t[64];
    struct jwt_signer *s = jwt_signer_load(cert_path, key_path, SECFILE_NO_USER, err, sizeof(err));
    unsigned char header[512], payload[1024], sig[1024], md[20];
    unsigned mdlen;
    const char *dot1, *dot2;
    char *jwt;
    size_t slen;
    EVP_MD_CTX *ctx;

    ck_assert_msg(s != NULL, "%s", err);
    jwt = jwt_assertion(s, CLIENT_ID, AUD, 1700000000, err, sizeof(err));
    ck_assert_msg(jwt != NULL, "%s", err);
    ck_assert_ptr_nonnull(dot1 = strchr(jwt, '.'));
    ck_assert_ptr_nonnull(dot2 = strchr(dot1 + 1, '.'));
    ck_assert_ptr_null(strchr(dot2 + 1, '.'));
    ck_assert_ptr_null(strchr(jwt, '='));

    b64url_decode(jwt, (size_t)(dot1 - jwt), header, sizeof(header));
    X509_digest(cert, EVP_sha1(), md, &mdlen);
    xoauth2_base64(md, mdlen, 1, x5t, sizeof(x5t));
    ck_assert_str_eq(jwt_signer_x5t(s), x5t);
    ck_assert_ptr_nonnull(strstr((char *)header, "\"alg\":\"RS256\""));
    ck_assert_ptr_nonnull(strstr((char *)header, "\"typ\":\"JWT\""));
    ck_assert_ptr_nonnull(strstr((char *)header, x5t));

    b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload, sizeof(payload));
    ck_assert_ptr_nonnull(strstr((char *)payload, "\"aud\":\"" AUD "\""));
    ck_assert_ptr_nonnull(strstr((char *)payload, "\"iss\":\"" CLIENT_ID "\""));
    ck_assert_ptr_nonnull(strstr((char *)payload, "\"sub\":\"" CLIENT_ID "\""));
    ck_assert_ptr_nonnull(strstr((char *)payload, "\"nbf\":1700000000"));
    ck_assert_ptr_nonnull(strstr((char *)payload, "\"exp\":1700000600"));
    ck_assert_ptr_nonnull(strstr((char *)payload, "\"jti\":\""));

    slen = b64url_decode(dot2 + 1, strlen(dot2 + 1), sig, sizeof(sig));
    ck_assert_uint_eq(slen, 256);
    ctx = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, X509_get0_pubkey(cert)),
                     1);
    ck_assert_int_eq(EVP_DigestVerify(ctx, sig, slen, (const unsigned char *)jwt,
                                      (size_t)(dot2 - jwt)),
                     1);
    /* and a changed payload does not verify */
    jwt[dot1 - jwt + 3] ^= 1;
    EVP_MD_CTX_reset(ctx);
    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, X509_get0_pubkey(cert));
    ck_assert_int_ne(EVP_DigestVerify(ctx, sig, slen, (const unsigned char *)jwt,
                                      (size_t)(dot2 - jwt)),
                     1);
    EVP_MD_CTX_free(ctx);
    free(jwt);
    jwt_signer_free(s);
}
END_TEST

START_TEST(two_assertions_have_different_jti)
{
    char err[256];
    struct jwt_signer *s = jwt_signer_load(cert_path, key_path, SECFILE_NO_USER, err, sizeof(err));
    char *a = jwt_assertion(s, CLIENT_ID, AUD, 1700000000, err, sizeof(err));
    char *b = jwt_assertion(s, CLIENT_ID, AUD, 1700000000, err, sizeof(err));

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_ne(a, b);
    free(a);
    free(b);
    jwt_signer_free(s);
}
END_TEST

START_TEST(key_readable_by_others_is_refused)
{
    char err[256];
    struct jwt_signer *s;

    ck_assert_int_eq(chmod(key_path, 0644), 0);
    s = jwt_signer_load(cert_path, key_path, SECFILE_NO_USER, err, sizeof(err));
    chmod(key_path, 0600);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err, "0644"));
    ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
}
END_TEST

/* put_secret - write text to dir/secret with mode, return its path */
static const char *put_secret(const char *text, size_t len, mode_t mode)
{
    static char path[160];
    FILE *f;

    snprintf(path, sizeof(path), "%s/secret", dir);
    unlink(path);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    fclose(f);
    ck_assert_int_eq(chmod(path, mode), 0);
    return path;
}

/* secfile_read_line: the one line of a private file, trailing white space dropped; the cap,
 * a second line, a NUL, an empty file and a file others may read are refused. */
START_TEST(secret_file_one_line_private_capped)
{
    char err[256], big[64];
    char *v;

    v = secfile_read_line("oauth_client_secret_file", put_secret("s3cr\"et \r\n", 10, 0600),
                          SECFILE_NO_USER, 4096, err, sizeof(err));
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(v, "s3cr\"et");
    secret_free(v);
    secret_free(NULL);
    ck_assert_ptr_null(secfile_read_line("x", put_secret("abc", 3, 0644), SECFILE_NO_USER, 4096,
                                         err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "0644"));
    ck_assert_ptr_null(secfile_read_line("x", put_secret("a\nb", 3, 0600), SECFILE_NO_USER, 4096,
                                         err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "on one line"));
    ck_assert_ptr_null(secfile_read_line("x", put_secret("a\0b", 3, 0600), SECFILE_NO_USER, 4096,
                                         err, sizeof(err)));
    ck_assert_ptr_null(secfile_read_line("x", put_secret("\n", 1, 0600), SECFILE_NO_USER, 4096,
                                         err, sizeof(err)));
    /* max 16: 15 bytes fit, 16 do not */
    memset(big, 'k', sizeof(big));
    v = secfile_read_line("x", put_secret(big, 15, 0600), SECFILE_NO_USER, 16, err, sizeof(err));
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(strlen(v), 15);
    secret_free(v);
    ck_assert_ptr_null(secfile_read_line("x", put_secret(big, 16, 0600), SECFILE_NO_USER, 16, err,
                                         sizeof(err)));
    ck_assert_ptr_null(secfile_read_line("x", put_secret(big, 64, 0600), SECFILE_NO_USER, 16, err,
                                         sizeof(err)));
    unlink(put_secret("", 0, 0600));
}
END_TEST

START_TEST(values_json_would_escape_are_refused)
{
    char err[256];
    struct jwt_signer *s = jwt_signer_load(cert_path, key_path, SECFILE_NO_USER, err, sizeof(err));

    ck_assert_ptr_null(jwt_assertion(s, "a\"b", AUD, 1, err, sizeof(err)));
    jwt_signer_free(s);
}
END_TEST

START_TEST(encrypted_key_fails_without_a_prompt)
{
    char err[512];
    struct jwt_signer *s;

    alarm(10); /* a prompt would wait for the terminal */
    s = jwt_signer_load(cert_path, enc_path, SECFILE_NO_USER, err, sizeof(err));
    alarm(0);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, "encrypted"), "%s", err);
}
END_TEST

START_TEST(fifo_as_key_or_certificate_fails_at_once)
{
    char err[512];

    alarm(10); /* open(2) of a FIFO without O_NONBLOCK waits for a writer */
    ck_assert_ptr_null(jwt_signer_load(cert_path, fifo_path, SECFILE_NO_USER, err, sizeof(err)));
    ck_assert_msg(strstr(err, "not a regular file"), "%s", err);
    ck_assert_ptr_null(jwt_signer_load(fifo_path, key_path, SECFILE_NO_USER, err, sizeof(err)));
    ck_assert_msg(strstr(err, "not a regular file"), "%s", err);
    alarm(0);
}
END_TEST

START_TEST(expired_certificate_is_refused)
{
    char err[512];

    /* Entra refuses an assertion signed for an expired credential: say so at start-up */
    ck_assert_ptr_null(jwt_signer_load(expired_path, key_path, SECFILE_NO_USER, err, sizeof(err)));
    ck_assert_msg(strstr(err, "expired on ") && strstr(err, expired_path), "%s", err);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("jwt");
    TCase *tc = tcase_create("core");

    tcase_add_unchecked_fixture(tc, make_cert, remove_cert);
    tcase_add_test(tc, assertion_verifies_against_the_certificate);
    tcase_add_test(tc, two_assertions_have_different_jti);
    tcase_add_test(tc, key_readable_by_others_is_refused);
    tcase_add_test(tc, secret_file_one_line_private_capped);
    tcase_add_test(tc, values_json_would_escape_are_refused);
    tcase_add_test(tc, encrypted_key_fails_without_a_prompt);
    tcase_add_test(tc, fifo_as_key_or_certificate_fails_at_once);
    tcase_add_test(tc, expired_certificate_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(suite(), CK_NOFORK);
}
