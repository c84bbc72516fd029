/* SPDX-License-Identifier: MIT */
/*
 * jwt - the client assertion of the OAuth client credentials grant with a
 * certificate: a JWT signed RS256 with the application's private key, its
 * header naming the certificate by x5t (base64url SHA-1 thumbprint).
 */
#ifndef SENDAS_JWT_H
#define SENDAS_JWT_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define JWT_LIFETIME 600 /* seconds an assertion is valid (exp - nbf) */

struct jwt_signer;

/*
 * jwt_signer_load - read the certificate (PEM) and the unencrypted private key
 * (PEM, private and owned by root, this process's user or service_uid; see
 * secfile_open).  Never prompts for a passphrase.  Returns NULL with a message
 * in err.
 */
struct jwt_signer *jwt_signer_load(const char *cert_path, const char *key_path,
                                   uid_t service_uid, char *err, size_t errlen);

/* jwt_signer_free - release; NULL is fine */
void jwt_signer_free(struct jwt_signer *s);

/* jwt_signer_x5t - the certificate's base64url SHA-1 thumbprint */
const char *jwt_signer_x5t(const struct jwt_signer *s);

/*
 * jwt_assertion - a signed assertion for client_id at audience (the token
 * endpoint), valid from now for JWT_LIFETIME seconds.  Returns a malloc'd
 * string, or NULL with a message in err.
 */
char *jwt_assertion(const struct jwt_signer *s, const char *client_id, const char *audience,
                    time_t now, char *err, size_t errlen);

#endif
