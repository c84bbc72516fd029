/* SPDX-License-Identifier: MIT */
/*
 * oauthsetup - what sendas-tokend derives from sendas.conf before it asks for
 * a token: the settings, the credentials (client secret or certificate and
 * key) and the token directory, each checked.  sendas-tokend's start-up,
 * `sendas-tokend -n` and `sendasctl check` all go through oauthsetup_check's
 * pieces, so that a check refuses exactly what a start refuses.
 */
#ifndef SENDAS_OAUTHSETUP_H
#define SENDAS_OAUTHSETUP_H

#include <stddef.h>
#include <sys/types.h>

struct conf;
struct jwt_signer;

/* Above this, token_refresh_margin is refused: more than half of the 3599 s an
 * Entra access token usually lives. */
#define OAUTHSETUP_MAX_MARGIN 1800

/* Bytes of oauth_ca_file: Debian's whole ca-certificates bundle is about 220 KB. */
#define OAUTHSETUP_MAX_CA (2 * 1024 * 1024)

struct oauth_setup {
    const struct conf *conf; /* not owned */
    const char *conf_path;
    char *secret;            /* the client secret, or NULL with a signer; wiped on free */
    struct jwt_signer *signer;
    char *ca_pem;            /* oauth_ca_file's certificates (read once), or NULL: the system's */
    size_t ca_len;
    char *endpoint;
    const char **mailboxes;  /* NULL-terminated, pointing into conf */
    size_t nmailboxes;
    gid_t gid;               /* token_group */
    uid_t uid;               /* the user sendas-tokend runs as: owns token_dir */
};

/*
 * oauthsetup_config - the settings of c (read from conf_path) for a
 * sendas-tokend that runs as user (NULL: as the calling user): OAuth
 * application, retry and refresh times, mailboxes, token group.  Reads no
 * file.  Returns 0, or -1 with a message in err; s is then for oauthsetup_free.
 */
int oauthsetup_config(struct oauth_setup *s, const struct conf *c, const char *conf_path,
                      const char *user, char *err, size_t errlen);

/*
 * oauthsetup_credentials - read the client secret, or the certificate and
 * private key (secfile_open's rules: regular, private, owned by root, the
 * reader or s->uid), and oauth_ca_file when set (a regular file of at most
 * OAUTHSETUP_MAX_CA bytes holding a PEM certificate; libcurl gets it from
 * memory, so a FIFO or a file swapped later can never hang a request).
 * Returns 0, or -1 with a message in err.
 */
int oauthsetup_credentials(struct oauth_setup *s, char *err, size_t errlen);

/*
 * oauthsetup_token_dir - token_dir must be a directory of sendas-tokend's own:
 * one it creates (mode 0750, or 2750 when made for another user; owner s->uid,
 * group token_group), one it already owns, or one of root's holding nothing
 * but token files (a package's, an older run's) that it takes over.  A
 * directory others share (writable by group or others, sticky) or that
 * another user owns is refused and never changed.  With create unset nothing
 * is created or changed (a check).  Returns 0, or -1 with a message in err.
 */
int oauthsetup_token_dir(const struct oauth_setup *s, int create, char *err, size_t errlen);

/* oauthsetup_free - release s (wipes the secret); the conf stays */
void oauthsetup_free(struct oauth_setup *s);

/* oauthsetup_wanted - non-zero when c configures sendas-tokend at all (any oauth_ setting) */
int oauthsetup_wanted(const struct conf *c);

/*
 * oauthsetup_service_user - the user sendas-tokend will run as, for a check
 * made by someone else (sendasctl check): sendas.conf's user, else, when root
 * checks, "sendas" (the packaged unit's User=) if it exists; else NULL.
 */
const char *oauthsetup_service_user(const struct conf *c);

/*
 * oauthsetup_check - every check sendas-tokend's start makes, changing
 * nothing: settings, credentials, token directory.  Returns 0, or -1 with a
 * message in err.
 */
int oauthsetup_check(const struct conf *c, const char *conf_path, const char *user, char *err,
                     size_t errlen);

#endif
