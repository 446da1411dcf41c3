/*
 * conf/NAME.conf: every example configuration shipped with relaymail goes
 * through the real loader (conf_defaults, conf_parse, conf_finish), as
 * /etc/relaymail.conf would.  The provider recipes are also held to the
 * exact smarthost settings they document, so an edit that breaks a
 * recipe (a typo in a key, the wrong port for the TLS mode) fails here.
 *
 * Paths are relative to the top of the source tree, where
 * tests/run-all.sh runs the unit tests.
 */
#include <check.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "util.h"

#define CONF_GLOB	"conf/*.conf"

/* Parse path as relaymail would; 0, or -1 with f filled. */
static int
load(struct conf *c, const char *path, struct fail *f)
{
	FILE	*fp;
	int	 r;

	ck_assert_int_eq(conf_defaults(c, f), 0);
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(f->msg, sizeof(f->msg), "%s: cannot open", path);
		return -1;
	}
	r = conf_parse(c, fp, path, f);
	fclose(fp);
	if (r == 0)
		r = conf_finish(c, f);
	return r;
}

START_TEST(test_every_example_parses)
{
	glob_t		 g;
	struct conf	 c;
	struct fail	 f;
	size_t		 i;

	ck_assert_msg(glob(CONF_GLOB, 0, NULL, &g) == 0,
	    "no " CONF_GLOB " (run from the top of the source tree)");
	/* the annotated example, the demo and six provider recipes */
	ck_assert_uint_ge(g.gl_pathc, 8);
	for (i = 0; i < g.gl_pathc; i++) {
		memset(&f, 0, sizeof(f));
		ck_assert_msg(load(&c, g.gl_pathv[i], &f) == 0, "%s: %s",
		    g.gl_pathv[i], f.msg);
		ck_assert_msg(c.host != NULL && c.port > 0, "%s: no smarthost",
		    g.gl_pathv[i]);
		conf_free(&c);
	}
	globfree(&g);
}
END_TEST

/* What each provider recipe must say (SPEC §3, §5). */
static const struct recipe {
	const char	*path;
	const char	*host;
	int		 port;
	enum conf_tls	 tls;
	const char	*auth;
	const char	*user;
	const char	*password_file;
	const char	*password_command;
	const char	*from;
	size_t		 nalias;
} recipes[] = {
	{ "conf/gmail.conf", "smtp.gmail.com", 587, CONF_TLS_STARTTLS,
	    "auto", "alerts@example.com", "/etc/relaymail.secret", NULL,
	    "alerts@example.com", 0 },
	{ "conf/microsoft365.conf", "smtp.office365.com", 587,
	    CONF_TLS_STARTTLS, "xoauth2", "alerts@example.com", NULL,
	    "/usr/local/libexec/m365-token alerts@example.com",
	    "alerts@example.com", 1 },
	{ "conf/fastmail.conf", "smtp.fastmail.com", 465, CONF_TLS_IMPLICIT,
	    "auto", "alerts@example.com", "/etc/relaymail.secret", NULL,
	    "alerts@example.com", 0 },
	{ "conf/amazon-ses.conf", "email-smtp.eu-west-1.amazonaws.com", 587,
	    CONF_TLS_STARTTLS, "auto", "AKIAEXAMPLEEXAMPLE00",
	    "/etc/relaymail.secret", NULL, "alerts@example.com", 1 },
	{ "conf/mailgun.conf", "smtp.mailgun.org", 587, CONF_TLS_STARTTLS,
	    "auto", "postmaster@mg.example.com", "/etc/relaymail.secret",
	    NULL, "alerts@mg.example.com", 0 },
	{ "conf/postfix-relay.conf", "mailrelay.internal.example", 25,
	    CONF_TLS_NONE, "none", NULL, NULL, NULL, "alerts@example.com",
	    1 },
};

#define NRECIPES	(sizeof(recipes) / sizeof(recipes[0]))

static void
assert_str(const char *path, const char *key, const char *got,
    const char *want)
{
	if (want == NULL)
		ck_assert_msg(got == NULL, "%s: %s is set", path, key);
	else
		ck_assert_msg(got != NULL && strcmp(got, want) == 0,
		    "%s: %s is \"%s\", not \"%s\"", path, key,
		    got != NULL ? got : "(unset)", want);
}

START_TEST(test_provider_recipe)
{
	const struct recipe *r = &recipes[_i];
	struct conf	 c;
	struct fail	 f;

	memset(&f, 0, sizeof(f));
	ck_assert_msg(load(&c, r->path, &f) == 0, "%s: %s", r->path, f.msg);
	assert_str(r->path, "host", c.host, r->host);
	ck_assert_msg(c.port == r->port, "%s: port %d, not %d", r->path,
	    c.port, r->port);
	ck_assert_msg(c.tls == r->tls, "%s: wrong tls", r->path);
	ck_assert_msg(c.tls_verify == 1, "%s: tls_verify off", r->path);
	assert_str(r->path, "auth", c.auth, r->auth);
	assert_str(r->path, "user", c.user, r->user);
	/* a recipe never holds a secret itself */
	assert_str(r->path, "password", c.password, NULL);
	assert_str(r->path, "password_file", c.password_file,
	    r->password_file);
	assert_str(r->path, "password_command", c.password_command,
	    r->password_command);
	assert_str(r->path, "from", c.from, r->from);
	/* every provider refuses a From that is not the account's own;
	 * the relay on the LAN takes any */
	ck_assert_msg(c.rewrite_from == (r->tls == CONF_TLS_NONE ?
	    CONF_REWRITE_MISSING : CONF_REWRITE_ALWAYS),
	    "%s: wrong rewrite_from", r->path);
	ck_assert_msg(c.nalias == r->nalias, "%s: %zu aliases, not %zu",
	    r->path, c.nalias, r->nalias);
	ck_assert_msg(c.domain != NULL, "%s: no domain", r->path);
	conf_free(&c);
}
END_TEST

Suite *
confs_suite(void)
{
	Suite	*s = suite_create("confs");
	TCase	*tc = tcase_create("examples");

	tcase_add_test(tc, test_every_example_parses);
	tcase_add_loop_test(tc, test_provider_recipe, 0, (int)NRECIPES);
	suite_add_tcase(s, tc);
	return s;
}
