/*
 * conf.h -- the configuration: libconfuse schema, RELAYMAIL_* overrides,
 * validation.  No cfg_t escapes conf.c; struct conf owns plain copies.
 */
#ifndef CONF_H
#define CONF_H

#include <stdio.h>

struct fail;

enum conf_tls {
	CONF_TLS_STARTTLS,
	CONF_TLS_IMPLICIT,
	CONF_TLS_NONE
};

enum conf_rewrite {
	CONF_REWRITE_MISSING,
	CONF_REWRITE_ALWAYS
};

struct conf_alias {
	char	 *name;
	char	**to;
	size_t	  nto;
};

struct conf {
	char		*path;		/* file it came from, or "environment" */
	char		*host;
	int		 port;		/* 0 until defaulted from tls */
	enum conf_tls	 tls;
	int		 tls_verify;
	char		*tls_ca_file;
	char		*tls_fingerprint;
	char		*tls_cert_file;
	char		*tls_key_file;
	/* their contents, read by priv.c before the group is dropped
	 * (the files may be readable by root:relaymail only); the key is
	 * a secret, wiped by conf_free() */
	char		*tls_cert_pem;
	size_t		 tls_cert_pem_len;
	char		*tls_key_pem;
	size_t		 tls_key_pem_len;
	char		*tls_min_version;
	char		*auth;		/* mechanism name, "auto" or "none" */
	int		 auth_plaintext;
	char		*user;
	char		*password;	/* secret: wiped by conf_free() */
	char		*password_file;
	char		*password_command;
	char		*helo;
	char		*domain;
	char		*from;
	enum conf_rewrite rewrite_from;
	char		*aliases;
	struct conf_alias *alias;
	size_t		 nalias;
	char		*default_to;
	int		 timeout;
	int		 final_timeout;
	int		 retries;
	char		*dead_letter;
	int		 syslog;
};

/* Default configuration file (the Makefile passes $(SYSCONFDIR)). */
#ifndef CONF_PATH
#define CONF_PATH	"/etc/relaymail.conf"
#endif

/*
 * Set every key to its default (SPEC §5).  0 or -1 (EX_OSERR).
 */
int	conf_defaults(struct conf *, struct fail *);

/*
 * Parse an already opened configuration file fp, named path in
 * messages, on top of the defaults in c.  Errors name the file, the line
 * and the key, never a value (a syntax error next to the password must
 * not print it).  A password in double quotes holding "${" is refused:
 * libconfuse would replace it from the environment.  0, or -1 with
 * EX_CONFIG (EX_OSERR for memory).
 */
int	conf_parse(struct conf *, FILE *, const char *, struct fail *);

/*
 * Apply RELAYMAIL_* environment variables on top of c (container mode).
 * Callers skip this while privileged (SPEC §6).  A secret from the
 * environment (RELAYMAIL_PASSWORD or RELAYMAIL_PASSWORD_FILE, not both)
 * replaces the file's password, password_file and password_command;
 * RELAYMAIL_PASSWORD's value is wiped from the environment once copied.
 * 0 or -1 (EX_CONFIG).
 */
int	conf_env(struct conf *, struct fail *);

/*
 * Final checks and derived defaults (port from tls); at most one of
 * password, password_file and password_command.  Call before the secret
 * is loaded.  0 or -1 with EX_CONFIG naming the key and the fix.
 */
int	conf_finish(struct conf *, struct fail *);

/* Name the configuration's origin in messages (a path or
 * "environment").  0 or -1 (EX_OSERR). */
int	conf_setpath(struct conf *, const char *, struct fail *);

/* Set the password (the secret loaded from password_file or
 * password_command), wiping the previous one.  0 or -1 (EX_OSERR). */
int	conf_setsecret(struct conf *, const char *, struct fail *);

/* Is name a key of the schema?  (Used to keep values out of messages.) */
int	conf_is_key(const char *);

/* Release everything; the password is wiped first. */
void	conf_free(struct conf *);

#endif /* CONF_H */
