/*
 * conf.c -- libconfuse schema, RELAYMAIL_* overrides, validation.
 *
 * Two libconfuse hazards shape this file (PITFALLS.md): its default error
 * handler prints the offending token, which may be the password, so our
 * handler prints only schema keys; and it expands ${VAR} inside double
 * quotes, so the documentation steers secrets into single quotes or
 * password_file.
 */
#include <confuse.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "conf.h"
#include "util.h"

enum ktype { K_STR, K_INT, K_BOOL };

struct key {
	const char	*name;
	enum ktype	 type;
	size_t		 off;
	const char	*env;		/* RELAYMAIL_* override, or NULL */
};

#define S(n, e)	{ #n, K_STR, offsetof(struct conf, n), e }
#define I(n)	{ #n, K_INT, offsetof(struct conf, n), NULL }
#define B(n)	{ #n, K_BOOL, offsetof(struct conf, n), NULL }

/* Every plain key: one row each, in SPEC §5 order. */
static const struct key keys[] = {
	S(host, "RELAYMAIL_HOST"),
	I(port),
	B(tls_verify),
	S(tls_ca_file, "RELAYMAIL_TLS_CA_FILE"),
	S(tls_fingerprint, NULL),
	S(tls_cert_file, NULL),
	S(tls_key_file, NULL),
	B(auth_plaintext),
	S(user, "RELAYMAIL_USER"),
	S(password, "RELAYMAIL_PASSWORD"),
	S(password_file, "RELAYMAIL_PASSWORD_FILE"),
	S(password_command, NULL),
	S(helo, NULL),
	S(domain, "RELAYMAIL_DOMAIN"),
	S(from, "RELAYMAIL_FROM"),
	S(aliases, NULL),
	S(default_to, "RELAYMAIL_DEFAULT_TO"),
	I(timeout),
	I(final_timeout),
	I(retries),
	S(dead_letter, NULL),
	B(syslog),
};

#undef S
#undef I
#undef B

/* Keys whose value is one word of a fixed set. */
struct choice {
	const char	*key;
	const char	*words[8];
};

static const struct choice choices[] = {
	{ "tls", { "starttls", "tls", "none" } },
	{ "rewrite_from", { "missing", "always" } },
	{ "auth", { "auto", "none", "plain", "login", "cram-md5",
	    "scram-sha-256", "xoauth2", "oauthbearer" } },
	{ "tls_min_version", { "1.2", "1.3" } },
};

#define CONF_FILE_MAX	(1024 * 1024)

/*
 * libconfuse's error callback has no user pointer, so the message, the
 * file name and the text being parsed live here for the length of one
 * conf_parse() call.
 */
static char		 conf_errbuf[512];
static const char	*conf_errpath;
static const char	*conf_errtext;

int
conf_is_key(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return 1;
	for (i = 0; i < sizeof(choices) / sizeof(choices[0]); i++)
		if (strcmp(choices[i].key, name) == 0)
			return 1;
	return strcmp(name, "alias") == 0 || strcmp(name, "to") == 0;
}

/* Is tok the first word of line `line` of the text being parsed, and
 * followed by '=' or '{'?  Then it is a key the user wrote (a misspelt
 * one), not a value: a bare word alone on its line may be a password
 * that lost its key. */
static int
conf_first_word(const char *tok, int line)
{
	const char	*p = conf_errtext;
	size_t		 n = strlen(tok);

	if (p == NULL || n == 0)
		return 0;
	while (--line > 0 && (p = strchr(p, '\n')) != NULL)
		p++;
	if (p == NULL)
		return 0;
	p += strspn(p, " \t");
	if (strncmp(p, tok, n) != 0)
		return 0;
	p += n;
	p += strspn(p, " \t");
	return *p == '=' || *p == '{';
}

/*
 * Copy msg into out, hiding the quoted token unless it is a schema key
 * or the first word of its line: libconfuse quotes values ("unexpected
 * token 'hunter2'").  The token runs from the first quote to the LAST
 * one: a value may hold a quote itself ("it's secret" alone on a line
 * gave "no such option 'it's secret'", and pairing quotes left to right
 * showed "s secret": found by tests/fuzz/conf.c).  The one message with
 * two tokens ("no sub-section 'x' in 'y'") is then hidden whole, and so
 * is a message cut short inside its token.
 */
static void
conf_scrub(const char *msg, int line, char *out, size_t outsz)
{
	struct buf	 b = { 0 };
	const char	*p = strchr(msg, '\''), *q = strrchr(msg, '\'');
	char		*tok = NULL;

	if (p == NULL) {
		buf_adds(&b, msg);
		goto out;
	}
	buf_add(&b, msg, (size_t)(p - msg));
	if (q > p)
		tok = util_strndup(p + 1, (size_t)(q - p - 1));
	/* what follows a hidden token is dropped too: only a closing
	 * quote or a section name, unless the message was cut short */
	if (tok != NULL && (conf_is_key(tok) || conf_first_word(tok, line)))
		buf_addf(&b, "'%s'%s", tok, q + 1);
	else
		buf_adds(&b, "(value not shown)");
	if (tok != NULL)
		util_wipe(tok, strlen(tok));
	free(tok);
out:
	snprintf(out, outsz, "%s", b.p != NULL ? b.p : "syntax error");
	buf_wipe(&b);
}

static void
conf_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	char	raw[512], clean[400];

	vsnprintf(raw, sizeof(raw), fmt, ap);
	conf_scrub(raw, cfg != NULL ? cfg->line : 0, clean, sizeof(clean));
	util_wipe(raw, sizeof(raw));
	if (conf_errbuf[0] != '\0')
		return;		/* keep the first: later ones are fallout */
	snprintf(conf_errbuf, sizeof(conf_errbuf), "%s:%d: %s",
	    conf_errpath, cfg != NULL ? cfg->line : 0, clean);
}

/* Reject values that would become a second SMTP command or header line
 * (PITFALLS.md: CR or LF in a config value). */
static int
conf_validate_str(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*v = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	const unsigned char *p;

	if (v == NULL)
		return 0;
	for (p = (const unsigned char *)v; *p != '\0'; p++)
		if (*p < 0x20 && *p != '\t') {
			cfg_error(cfg, "'%s': control character in value",
			    opt->name);
			return -1;
		}
	return 0;
}

static int
conf_choice_index(const struct choice *ch, const char *v)
{
	int	i;

	for (i = 0; i < 8 && ch->words[i] != NULL; i++)
		if (util_strcasecmp(ch->words[i], v) == 0)
			return i;
	return -1;
}

static const struct choice *
conf_find_choice(const char *key)
{
	size_t	i;

	for (i = 0; i < sizeof(choices) / sizeof(choices[0]); i++)
		if (strcmp(choices[i].key, key) == 0)
			return &choices[i];
	return NULL;
}

static int
conf_validate_choice(cfg_t *cfg, cfg_opt_t *opt)
{
	const struct choice *ch = conf_find_choice(opt->name);
	const char	*v = cfg_opt_getnstr(opt, 0);
	char		 list[128] = "";
	int		 i;

	if (ch == NULL || v == NULL || conf_choice_index(ch, v) >= 0)
		return 0;
	for (i = 0; i < 8 && ch->words[i] != NULL; i++) {
		strncat(list, i ? " | " : "", sizeof(list) - strlen(list) - 1);
		strncat(list, ch->words[i], sizeof(list) - strlen(list) - 1);
	}
	cfg_error(cfg, "'%s' must be one of: %s", opt->name, list);
	return -1;
}

static int
conf_validate_nonneg(cfg_t *cfg, cfg_opt_t *opt)
{
	if (cfg_opt_getnint(opt, 0) < 0 || cfg_opt_getnint(opt, 0) > 65535) {
		cfg_error(cfg, "'%s' must be between 0 and 65535", opt->name);
		return -1;
	}
	return 0;
}

int
conf_defaults(struct conf *c, struct fail *f)
{
	memset(c, 0, sizeof(*c));
	c->tls = CONF_TLS_STARTTLS;
	c->tls_verify = 1;
	c->timeout = 60;
	c->final_timeout = 600;
	c->retries = 2;
	c->syslog = 1;
	if ((c->auth = strdup("auto")) == NULL ||
	    (c->dead_letter = strdup("~/dead.letter")) == NULL ||
	    (c->path = strdup(CONF_PATH)) == NULL)
		return fail_nomem(f);
	return 0;
}

static char **
conf_strp(struct conf *c, const struct key *k)
{
	return (char **)(void *)((char *)c + k->off);
}

static int *
conf_intp(struct conf *c, const struct key *k)
{
	return (int *)(void *)((char *)c + k->off);
}

/* Replace a string field, wiping the old value (it may be a secret). */
static int
conf_setstr(char **dst, const char *v, struct fail *f)
{
	char	*n = NULL;

	if (v != NULL && (n = strdup(v)) == NULL)
		return fail_nomem(f);
	if (*dst != NULL) {
		util_wipe(*dst, strlen(*dst));
		free(*dst);
	}
	*dst = n;
	return 0;
}

int
conf_setsecret(struct conf *c, const char *secret, struct fail *f)
{
	return conf_setstr(&c->password, secret, f);
}

/* Apply a choice key's word to the enum fields it drives. */
static int
conf_apply_choice(struct conf *c, const char *key, const char *v,
    struct fail *f)
{
	const struct choice *ch = conf_find_choice(key);
	int		 i = conf_choice_index(ch, v);
	static const enum conf_tls tlsmap[] = {
		CONF_TLS_STARTTLS, CONF_TLS_IMPLICIT, CONF_TLS_NONE
	};

	if (i < 0)
		return fail_set(f, EX_CONFIG, "%s: '%s' has an unknown value",
		    c->path, key);
	if (strcmp(key, "tls") == 0)
		c->tls = tlsmap[i];
	else if (strcmp(key, "rewrite_from") == 0)
		c->rewrite_from = i == 1 ? CONF_REWRITE_ALWAYS :
		    CONF_REWRITE_MISSING;
	else if (strcmp(key, "auth") == 0)
		return conf_setstr(&c->auth, ch->words[i], f);
	else
		return conf_setstr(&c->tls_min_version, ch->words[i], f);
	return 0;
}

static cfg_t *
conf_schema(void)
{
	static cfg_opt_t alias_opts[] = {
		CFG_STR_LIST("to", NULL, CFGF_NONE),
		CFG_END()
	};
	static cfg_opt_t opts[] = {
		CFG_STR("host", NULL, CFGF_NONE),
		CFG_INT("port", 0, CFGF_NONE),
		CFG_STR("tls", NULL, CFGF_NONE),
		CFG_BOOL("tls_verify", cfg_true, CFGF_NONE),
		CFG_STR("tls_ca_file", NULL, CFGF_NONE),
		CFG_STR("tls_fingerprint", NULL, CFGF_NONE),
		CFG_STR("tls_cert_file", NULL, CFGF_NONE),
		CFG_STR("tls_key_file", NULL, CFGF_NONE),
		CFG_STR("tls_min_version", NULL, CFGF_NONE),
		CFG_STR("auth", NULL, CFGF_NONE),
		CFG_BOOL("auth_plaintext", cfg_false, CFGF_NONE),
		CFG_STR("user", NULL, CFGF_NONE),
		CFG_STR("password", NULL, CFGF_NONE),
		CFG_STR("password_file", NULL, CFGF_NONE),
		CFG_STR("password_command", NULL, CFGF_NONE),
		CFG_STR("helo", NULL, CFGF_NONE),
		CFG_STR("domain", NULL, CFGF_NONE),
		CFG_STR("from", NULL, CFGF_NONE),
		CFG_STR("rewrite_from", NULL, CFGF_NONE),
		CFG_STR("aliases", NULL, CFGF_NONE),
		CFG_SEC("alias", alias_opts,
		    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
		CFG_STR("default_to", NULL, CFGF_NONE),
		CFG_INT("timeout", 60, CFGF_NONE),
		CFG_INT("final_timeout", 600, CFGF_NONE),
		CFG_INT("retries", 2, CFGF_NONE),
		CFG_STR("dead_letter", NULL, CFGF_NONE),
		CFG_BOOL("syslog", cfg_true, CFGF_NONE),
		CFG_END()
	};
	cfg_t	*cfg;
	size_t	 i;

	if ((cfg = cfg_init(opts, CFGF_NONE)) == NULL)
		return NULL;
	cfg_set_error_function(cfg, conf_errfunc);
	for (i = 0; opts[i].name != NULL; i++) {
		if (opts[i].type == CFGT_STR)
			cfg_set_validate_func(cfg, opts[i].name,
			    conf_find_choice(opts[i].name) != NULL ?
			    conf_validate_choice : conf_validate_str);
		else if (opts[i].type == CFGT_INT)
			cfg_set_validate_func(cfg, opts[i].name,
			    conf_validate_nonneg);
	}
	cfg_set_validate_func(cfg, "alias|to", conf_validate_str);
	return cfg;
}

/* Copy the plain keys that the file set into c. */
static int
conf_copy_keys(struct conf *c, cfg_t *cfg, struct fail *f)
{
	const struct key *k;
	char		*v;

	for (k = keys; k < keys + sizeof(keys) / sizeof(keys[0]); k++) {
		if (cfg_size(cfg, k->name) == 0)
			continue;
		if (k->type == K_INT)
			*conf_intp(c, k) = (int)cfg_getint(cfg, k->name);
		else if (k->type == K_BOOL)
			*conf_intp(c, k) = cfg_getbool(cfg, k->name) != 0;
		else if ((v = cfg_getstr(cfg, k->name)) != NULL) {
			if (conf_setstr(conf_strp(c, k), v, f) == -1)
				return -1;
			/* libconfuse's own copy of the secret too */
			if (strcmp(k->name, "password") == 0)
				util_wipe(v, strlen(v));
		}
	}
	return 0;
}

static int
conf_copy_choices(struct conf *c, cfg_t *cfg, struct fail *f)
{
	size_t		 i;
	const char	*v;

	for (i = 0; i < sizeof(choices) / sizeof(choices[0]); i++)
		if ((v = cfg_getstr(cfg, choices[i].key)) != NULL &&
		    conf_apply_choice(c, choices[i].key, v, f) == -1)
			return -1;
	return 0;
}

static int
conf_copy_aliases(struct conf *c, cfg_t *cfg, struct fail *f)
{
	unsigned int	 i, j, n = cfg_size(cfg, "alias");
	cfg_t		*sec;
	struct conf_alias *a;

	if (n == 0)
		return 0;
	if ((c->alias = calloc(n, sizeof(*c->alias))) == NULL)
		return fail_nomem(f);
	for (i = 0; i < n; i++) {
		sec = cfg_getnsec(cfg, "alias", i);
		a = &c->alias[c->nalias++];
		if ((a->name = strdup(cfg_title(sec))) == NULL)
			return fail_nomem(f);
		a->nto = cfg_size(sec, "to");
		if (a->nto > 0 &&
		    (a->to = calloc(a->nto, sizeof(*a->to))) == NULL)
			return fail_nomem(f);
		for (j = 0; j < a->nto; j++)
			if ((a->to[j] = strdup(cfg_getnstr(sec, "to", j)))
			    == NULL)
				return fail_nomem(f);
	}
	return 0;
}

int
conf_setpath(struct conf *c, const char *path, struct fail *f)
{
	return conf_setstr(&c->path, path, f);
}

/*
 * Blank out comments (#, // and C-style blocks outside quotes), keeping every
 * newline: libconfuse 3.3 counts each comment as several lines, so its
 * line numbers would be wrong in every real configuration file.
 */
static void
conf_strip_comments(char *s, size_t n)
{
	size_t	i;
	char	q = 0;
	int	block = 0, line = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\n') {
			line = 0;
			continue;
		}
		if (block || line) {
			if (block && s[i] == '*' && i + 1 < n && s[i + 1] == '/') {
				s[i++] = ' ';
				block = 0;
			}
			s[i] = ' ';
		} else if (q) {
			if (s[i] == '\\' && i + 1 < n && s[i + 1] != '\n')
				i++;
			else if (s[i] == q)
				q = 0;
		} else if (s[i] == '"' || s[i] == '\'')
			q = s[i];
		else if (s[i] == '#' || (s[i] == '/' && i + 1 < n &&
		    s[i + 1] == '/')) {
			line = 1;
			s[i] = ' ';
		} else if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
			block = 1;
			s[i] = ' ';
		}
	}
}

/* The whole file from the descriptor already opened and checked. */
static int
conf_slurp(FILE *fp, const char *path, struct buf *b, struct fail *f)
{
	char	chunk[4096];
	size_t	n;

	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (b->len + n > CONF_FILE_MAX) {
			util_wipe(chunk, sizeof(chunk));
			return fail_set(f, EX_CONFIG, "%s: larger than %d "
			    "octets", path, CONF_FILE_MAX);
		}
		if (buf_add(b, chunk, n) == -1)
			return fail_nomem(f);
	}
	util_wipe(chunk, sizeof(chunk));
	if (ferror(fp))
		return fail_set(f, EX_CONFIG, "%s: read error", path);
	return buf_add(b, "", 0) == -1 ? fail_nomem(f) : 0;
}

/*
 * libconfuse replaces ${VAR} (and ${VAR:-default}) inside double quotes
 * from the environment, with no way to turn it off: a password holding
 * "${" would be silently changed, and under setgid changed by whoever
 * runs relaymail.  Refuse it and point to single quotes, which are
 * literal.  Runs on the comment-stripped text; names the line, never
 * the value.
 */
static int
conf_check_expansion(const char *text, const char *path, struct fail *f)
{
	static const char key[] = "password";
	const char	*p = text, *q;
	int		 line = 1;

	for (; *p != '\0'; p++) {
		if (p != text && p[-1] != '\n') {
			line += *p == '\n';
			continue;
		}
		q = p + strspn(p, " \t");
		if (strncmp(q, key, sizeof(key) - 1) != 0)
			goto next;
		q += sizeof(key) - 1;
		q += strspn(q, " \t");
		if (*q++ != '=')
			goto next;
		q += strspn(q, " \t");
		if (*q != '"')
			goto next;
		for (q++; *q != '\0' && *q != '"'; q++) {
			if (*q == '\\' && q[1] != '\0')
				q++;
			else if (q[0] == '$' && q[1] == '{')
				return fail_set(f, EX_CONFIG, "%s:%d: 'password' "
				    "holds ${ inside double quotes, which "
				    "libconfuse replaces from the environment: "
				    "put the password in single quotes", path,
				    line);
		}
next:
		line += *p == '\n';
	}
	return 0;
}

int
conf_parse(struct conf *c, FILE *fp, const char *path, struct fail *f)
{
	cfg_t		*cfg;
	struct buf	 text = { 0 };
	int		 rc, ret = -1;

	if (conf_setstr(&c->path, path, f) == -1)
		return -1;
	if (conf_slurp(fp, path, &text, f) == -1) {
		buf_wipe(&text);
		return -1;
	}
	if (memchr(text.p, '\0', text.len) != NULL) {
		buf_wipe(&text);
		return fail_set(f, EX_CONFIG, "%s: not a text file", path);
	}
	conf_strip_comments(text.p, text.len);
	if (conf_check_expansion(text.p, path, f) == -1) {
		buf_wipe(&text);
		return -1;
	}
	if ((cfg = conf_schema()) == NULL) {
		buf_wipe(&text);
		return fail_nomem(f);
	}
	conf_errbuf[0] = '\0';
	conf_errpath = c->path;
	conf_errtext = text.p;
	rc = cfg_parse_buf(cfg, text.p);
	if (rc != CFG_SUCCESS) {
		/* libconfuse may fail without a word (an octet its lexer
		 * does not know after a string): still name the file
		 * (found by tests/fuzz/conf.c) */
		if (conf_errbuf[0] != '\0')
			fail_set(f, EX_CONFIG, "%s", conf_errbuf);
		else
			fail_set(f, EX_CONFIG, "%s: syntax error (check the "
			    "quotes, braces and any non-ASCII octet outside "
			    "quotes)", c->path);
		goto out;
	}
	if (conf_copy_keys(c, cfg, f) == -1 ||
	    conf_copy_choices(c, cfg, f) == -1 ||
	    conf_copy_aliases(c, cfg, f) == -1)
		goto out;
	ret = 0;
out:
	cfg_free(cfg);
	conf_errpath = NULL;
	conf_errtext = NULL;
	buf_wipe(&text);
	util_wipe(conf_errbuf, sizeof(conf_errbuf));
	return ret;
}

/* password and password_file: conf_env_secret's, not the loop's. */
static int
conf_is_secret(const char *key)
{
	return strcmp(key, "password") == 0 ||
	    strcmp(key, "password_file") == 0;
}

/* Parse a decimal environment value for an int key. */
static int
conf_env_int(const char *name, const char *v, int *out, struct fail *f)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < 0 || n > 65535)
		return fail_set(f, EX_CONFIG, "%s: not a number from 0 to "
		    "65535", name);
	*out = (int)n;
	return 0;
}

/*
 * A secret from the environment replaces whichever source the file
 * named (the environment overrides the file, SPEC §5); the environment
 * itself may name only one.  RELAYMAIL_PASSWORD's value is wiped once
 * copied: a password manager started by password_command, or anything
 * else started later, has no use for it.
 */
static int
conf_env_secret(struct conf *c, struct fail *f)
{
	char	*pw = getenv("RELAYMAIL_PASSWORD");
	char	*file = getenv("RELAYMAIL_PASSWORD_FILE");

	if (pw == NULL && file == NULL)
		return 0;
	if (pw != NULL && file != NULL)
		return fail_set(f, EX_CONFIG, "set only one of "
		    "RELAYMAIL_PASSWORD and RELAYMAIL_PASSWORD_FILE");
	if (strpbrk(pw != NULL ? pw : file, "\r\n") != NULL)
		return fail_set(f, EX_CONFIG, "%s: line break in value",
		    pw != NULL ? "RELAYMAIL_PASSWORD" :
		    "RELAYMAIL_PASSWORD_FILE");
	if (conf_setstr(&c->password, pw, f) == -1 ||
	    conf_setstr(&c->password_file, file, f) == -1 ||
	    conf_setstr(&c->password_command, NULL, f) == -1)
		return -1;
	if (pw != NULL) {
		util_wipe(pw, strlen(pw));
		unsetenv("RELAYMAIL_PASSWORD");
	}
	return 0;
}

int
conf_env(struct conf *c, struct fail *f)
{
	const struct key *k;
	const char	*v;

	if (conf_env_secret(c, f) == -1)
		return -1;
	for (k = keys; k < keys + sizeof(keys) / sizeof(keys[0]); k++) {
		if (k->env == NULL || conf_is_secret(k->name) ||
		    (v = getenv(k->env)) == NULL)
			continue;
		if (strpbrk(v, "\r\n") != NULL)
			return fail_set(f, EX_CONFIG, "%s: line break in "
			    "value", k->env);
		if (conf_setstr(conf_strp(c, k), v, f) == -1)
			return -1;
	}
	if ((v = getenv("RELAYMAIL_PORT")) != NULL &&
	    conf_env_int("RELAYMAIL_PORT", v, &c->port, f) == -1)
		return -1;
	if ((v = getenv("RELAYMAIL_TLS")) != NULL) {
		if (conf_choice_index(conf_find_choice("tls"), v) < 0)
			return fail_set(f, EX_CONFIG, "RELAYMAIL_TLS: must be "
			    "starttls, tls or none");
		if (conf_apply_choice(c, "tls", v, f) == -1)
			return -1;
	}
	return 0;
}

int
conf_finish(struct conf *c, struct fail *f)
{
	static const int defport[] = {
		[CONF_TLS_STARTTLS] = 587,
		[CONF_TLS_IMPLICIT] = 465,
		[CONF_TLS_NONE] = 25,
	};

	if (c->host == NULL || *c->host == '\0')
		return fail_set(f, EX_CONFIG, "%s: 'host' is not set: name "
		    "the smarthost (host = \"smtp.example.com\") or set "
		    "RELAYMAIL_HOST", c->path);
	if (c->port == 0)
		c->port = defport[c->tls];
	if (c->timeout == 0)
		c->timeout = 60;
	if (c->final_timeout == 0)
		c->final_timeout = 600;
	if ((c->password != NULL) + (c->password_file != NULL) +
	    (c->password_command != NULL) > 1)
		return fail_set(f, EX_CONFIG, "%s: set only one of 'password', "
		    "'password_file' and 'password_command'", c->path);
	return 0;
}

static void
conf_free_alias(struct conf_alias *a)
{
	size_t	i;

	for (i = 0; i < a->nto; i++)
		free(a->to[i]);
	free(a->to);
	free(a->name);
}

void
conf_free(struct conf *c)
{
	const struct key *k;
	size_t		 i;

	for (k = keys; k < keys + sizeof(keys) / sizeof(keys[0]); k++)
		if (k->type == K_STR)
			conf_setstr(conf_strp(c, k), NULL, NULL);
	for (i = 0; i < c->nalias; i++)
		conf_free_alias(&c->alias[i]);
	free(c->alias);
	free(c->auth);
	free(c->tls_min_version);
	free(c->tls_cert_pem);
	if (c->tls_key_pem != NULL)
		util_wipe(c->tls_key_pem, c->tls_key_pem_len);
	free(c->tls_key_pem);
	free(c->path);
	memset(c, 0, sizeof(*c));
}
