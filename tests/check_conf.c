/*
 * conf.c: the schema, defaults, errors that name file and line but never
 * a value, RELAYMAIL_* overrides.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "conf.h"
#include "util.h"

static int
parse(struct conf *c, const char *text, struct fail *f)
{
	FILE	*fp = tmpfile();
	int	 r;

	fputs(text, fp);
	rewind(fp);
	ck_assert_int_eq(conf_defaults(c, f), 0);
	r = conf_parse(c, fp, "test.conf", f);
	fclose(fp);
	return r;
}

START_TEST(test_full_example)
{
	struct conf	c;
	struct fail	f;
	static const char text[] =
	    "host = \"smtp.example.com\"\n"
	    "port = 2525\n"
	    "tls = tls\n"
	    "tls_verify = true\n"
	    "tls_ca_file = \"/etc/ssl/certs/ca-certificates.crt\"\n"
	    "auth = plain\n"
	    "user = \"alice@example.com\"\n"
	    "password = 'p@ss w0rd ${HOME} \"q\" #x'\n"
	    "helo = \"host.example.com\"\n"
	    "domain = \"example.com\"\n"
	    "from = \"alerts@example.com\"\n"
	    "rewrite_from = always\n"
	    "aliases = \"/etc/aliases\"\n"
	    "alias root { to = {\"ops@example.com\", \"oncall@example.com\"} }\n"
	    "default_to = \"ops@example.com\"\n"
	    "timeout = 30\nfinal_timeout = 300\nretries = 1\n"
	    "dead_letter = \"\"\nsyslog = false\n";

	ck_assert_int_eq(parse(&c, text, &f), 0);
	ck_assert_int_eq(conf_finish(&c, &f), 0);
	ck_assert_str_eq(c.host, "smtp.example.com");
	ck_assert_int_eq(c.port, 2525);
	ck_assert_int_eq(c.tls, CONF_TLS_IMPLICIT);
	ck_assert_str_eq(c.auth, "plain");
	/* single quotes: the exact bytes, no ${} expansion */
	ck_assert_str_eq(c.password, "p@ss w0rd ${HOME} \"q\" #x");
	ck_assert_int_eq(c.rewrite_from, CONF_REWRITE_ALWAYS);
	ck_assert_uint_eq(c.nalias, 1);
	ck_assert_str_eq(c.alias[0].name, "root");
	ck_assert_uint_eq(c.alias[0].nto, 2);
	ck_assert_str_eq(c.alias[0].to[1], "oncall@example.com");
	ck_assert_int_eq(c.timeout, 30);
	ck_assert_int_eq(c.retries, 1);
	ck_assert_str_eq(c.dead_letter, "");
	ck_assert_int_eq(c.syslog, 0);
	conf_free(&c);
}
END_TEST

START_TEST(test_defaults)
{
	struct conf	c;
	struct fail	f;

	ck_assert_int_eq(parse(&c, "host = \"h\"\n", &f), 0);
	ck_assert_int_eq(conf_finish(&c, &f), 0);
	ck_assert_int_eq(c.port, 587);
	ck_assert_int_eq(c.tls, CONF_TLS_STARTTLS);
	ck_assert_int_eq(c.tls_verify, 1);
	ck_assert_str_eq(c.auth, "auto");
	ck_assert_int_eq(c.timeout, 60);
	ck_assert_int_eq(c.final_timeout, 600);
	ck_assert_int_eq(c.retries, 2);
	ck_assert_str_eq(c.dead_letter, "~/dead.letter");
	ck_assert_int_eq(c.syslog, 1);
	conf_free(&c);
	ck_assert_int_eq(parse(&c, "host = \"h\"\ntls = none\n", &f), 0);
	ck_assert_int_eq(conf_finish(&c, &f), 0);
	ck_assert_int_eq(c.port, 25);
	conf_free(&c);
}
END_TEST

START_TEST(test_errors_name_line_not_value)
{
	struct conf	c;
	struct fail	f;

	ck_assert_int_eq(parse(&c, "host = \"h\"\n\nbogus = 1\n", &f), -1);
	ck_assert_int_eq(f.ex, EX_CONFIG);
	ck_assert_ptr_nonnull(strstr(f.msg, "test.conf:3"));
	conf_free(&c);
	ck_assert_int_eq(parse(&c, "tls = maybe\n", &f), -1);
	ck_assert_ptr_nonnull(strstr(f.msg, "test.conf:1"));
	ck_assert_ptr_nonnull(strstr(f.msg, "'tls'"));
	ck_assert_ptr_null(strstr(f.msg, "maybe"));
	conf_free(&c);
	/* a syntax error next to the password must not print it */
	ck_assert_int_eq(parse(&c, "host = \"h\"\npassword = hunter2 "
	    "s3cr3t\n", &f), -1);
	ck_assert_ptr_null(strstr(f.msg, "hunter2"));
	ck_assert_ptr_null(strstr(f.msg, "s3cr3t"));
	ck_assert_ptr_nonnull(strstr(f.msg, "test.conf:2"));
	conf_free(&c);
	ck_assert_int_eq(parse(&c, "port = x9z\n", &f), -1);
	ck_assert_ptr_null(strstr(f.msg, "x9z"));
	conf_free(&c);
}
END_TEST

START_TEST(test_host_required)
{
	struct conf	c;
	struct fail	f;

	ck_assert_int_eq(parse(&c, "port = 25\n", &f), 0);
	ck_assert_int_eq(conf_finish(&c, &f), -1);
	ck_assert_int_eq(f.ex, EX_CONFIG);
	ck_assert_ptr_nonnull(strstr(f.msg, "'host'"));
	conf_free(&c);
}
END_TEST

START_TEST(test_env)
{
	struct conf	c;
	struct fail	f;

	ck_assert_int_eq(parse(&c, "host = \"file\"\nport = 25\n", &f), 0);
	setenv("RELAYMAIL_HOST", "env.example", 1);
	setenv("RELAYMAIL_PORT", "465", 1);
	setenv("RELAYMAIL_TLS", "tls", 1);
	setenv("RELAYMAIL_PASSWORD", "from env", 1);
	ck_assert_int_eq(conf_env(&c, &f), 0);
	ck_assert_str_eq(c.host, "env.example");
	ck_assert_int_eq(c.port, 465);
	ck_assert_int_eq(c.tls, CONF_TLS_IMPLICIT);
	ck_assert_str_eq(c.password, "from env");
	setenv("RELAYMAIL_FROM", "a@b\r\nRCPT TO:<x@y>", 1);
	ck_assert_int_eq(conf_env(&c, &f), -1);
	ck_assert_int_eq(f.ex, EX_CONFIG);
	unsetenv("RELAYMAIL_FROM");
	setenv("RELAYMAIL_PORT", "99999", 1);
	ck_assert_int_eq(conf_env(&c, &f), -1);
	unsetenv("RELAYMAIL_HOST");
	unsetenv("RELAYMAIL_PORT");
	unsetenv("RELAYMAIL_TLS");
	unsetenv("RELAYMAIL_PASSWORD");
	conf_free(&c);
}
END_TEST

START_TEST(test_control_chars)
{
	struct conf	c;
	struct fail	f;

	/* libconfuse turns \n inside quotes into a newline: refuse it */
	ck_assert_int_eq(parse(&c, "from = \"a@b\\nRCPT TO:<x@y>\"\n", &f),
	    -1);
	ck_assert_int_eq(f.ex, EX_CONFIG);
	conf_free(&c);
}
END_TEST

/* libconfuse replaces ${VAR} inside double quotes from the environment:
 * a double-quoted password holding "${" is refused, naming the line and
 * never the value; single quotes keep the exact bytes. */
START_TEST(test_password_expansion)
{
	struct conf	c;
	struct fail	f;

	setenv("RM_TEST_VAR", "injected", 1);
	ck_assert_int_eq(parse(&c, "host = \"h\"\n# x\npassword = "
	    "\"Zq7${RM_TEST_VAR}\"\n", &f), -1);
	ck_assert_int_eq(f.ex, EX_CONFIG);
	ck_assert_ptr_nonnull(strstr(f.msg, "test.conf:3"));
	ck_assert_ptr_nonnull(strstr(f.msg, "single quotes"));
	ck_assert_ptr_null(strstr(f.msg, "Zq7"));
	ck_assert_ptr_null(strstr(f.msg, "injected"));
	conf_free(&c);
	ck_assert_int_eq(parse(&c, "password=\"a\\\"${X:-d}\"\n", &f), -1);
	conf_free(&c);
	ck_assert_int_eq(parse(&c, "password = 'Zq7${RM_TEST_VAR}\\\\x'\n",
	    &f), 0);
	ck_assert_str_eq(c.password, "Zq7${RM_TEST_VAR}\\x");
	conf_free(&c);
	/* only the password: other keys may use the expansion */
	ck_assert_int_eq(parse(&c, "password = \"plain$ {x}\"\n"
	    "password_command = \"echo ${RM_TEST_VAR}\"\n", &f), 0);
	ck_assert_str_eq(c.password, "plain$ {x}");
	ck_assert_str_eq(c.password_command, "echo injected");
	conf_free(&c);
	unsetenv("RM_TEST_VAR");
}
END_TEST

/* Syntax errors of every shape next to the password never print it. */
START_TEST(test_syntax_errors_hide_password)
{
	static const char *const bad[] = {
		"password = 'Zq7pw\n",
		"password 'Zq7pw'\n",
		"password = {'Zq7pw'}\n",
		"password = 'Zq7pw' 'Zq7x'\n",
		"password = 'Zq7pw' = 3\n",
		"password = \"Zq7pw\n",
		"password = ('Zq7pw')\n",
		"Zq7pw\n",
		"'Zq7pw'\n",
		"password = 'a' Zq7pw = 'b'\n",
		"alias x { to = Zq7pw Zq7x }\n",
		"password = 'x\\\\'Zq7pw'\n",
		/* a quote inside the value (tests/fuzz/conf.c) */
		"\"it's Zq7pw\"\n",
		"user = \"u\"\n\"a'b'c Zq7pw\"\n",
		"\"Zq7'pw\"\n",
	};
	struct conf	c;
	struct fail	f;
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(parse(&c, bad[i], &f), -1);
		ck_assert_int_eq(f.ex, EX_CONFIG);
		ck_assert_msg(strstr(f.msg, "Zq7") == NULL, "case %zu: %s", i,
		    f.msg);
		ck_assert_ptr_nonnull(strstr(f.msg, "test.conf:"));
		conf_free(&c);
	}
	/* a message cut short inside a token holding a quote */
	{
		char	long_tok[1024];

		memset(long_tok, 'a', sizeof(long_tok));
		long_tok[0] = '"';
		memcpy(long_tok + 600, "'Zq7pw\"\n", 9);
		long_tok[609] = '\0';
		ck_assert_int_eq(parse(&c, long_tok, &f), -1);
		ck_assert_msg(strstr(f.msg, "Zq7") == NULL, "%s", f.msg);
		conf_free(&c);
	}
	/* libconfuse failing without a word: the file is still named
	 * (tests/fuzz/conf.c) */
	ck_assert_int_eq(parse(&c, "host =\xd5\"\"x\"\n", &f), -1);
	ck_assert_int_eq(f.ex, EX_CONFIG);
	ck_assert_str_eq(f.msg, "test.conf: syntax error (check the quotes, "
	    "braces and any non-ASCII octet outside quotes)");
	conf_free(&c);
	/* a misspelt key is still named */
	ck_assert_int_eq(parse(&c, "pasword = 'x'\n", &f), -1);
	ck_assert_ptr_nonnull(strstr(f.msg, "'pasword'"));
	conf_free(&c);
}
END_TEST

START_TEST(test_one_secret_source)
{
	static const char *const two[] = {
		"password = 'a'\npassword_file = \"/f\"\n",
		"password = 'a'\npassword_command = \"c\"\n",
		"password_file = \"/f\"\npassword_command = \"c\"\n",
	};
	struct conf	c;
	struct fail	f;
	size_t		i;

	for (i = 0; i < sizeof(two) / sizeof(two[0]); i++) {
		ck_assert_int_eq(parse(&c, two[i], &f), 0);
		c.host = strdup("h");
		ck_assert_int_eq(conf_finish(&c, &f), -1);
		ck_assert_int_eq(f.ex, EX_CONFIG);
		ck_assert_ptr_nonnull(strstr(f.msg, "only one of"));
		conf_free(&c);
	}
	ck_assert_int_eq(parse(&c, "host = \"h\"\npassword_file = \"/f\"\n",
	    &f), 0);
	ck_assert_int_eq(conf_finish(&c, &f), 0);
	/* the loaded secret joins password_file after the check */
	ck_assert_int_eq(conf_setsecret(&c, "loaded", &f), 0);
	ck_assert_str_eq(c.password, "loaded");
	conf_free(&c);
}
END_TEST

/* A secret from the environment replaces the file's source, whichever
 * it was; the environment names at most one; RELAYMAIL_PASSWORD is
 * wiped from the environment once copied. */
START_TEST(test_env_secret)
{
	struct conf	c;
	struct fail	f;

	ck_assert_int_eq(parse(&c, "host = \"h\"\npassword_command = "
	    "\"c\"\n", &f), 0);
	setenv("RELAYMAIL_PASSWORD_FILE", "/run/secrets/smtp", 1);
	ck_assert_int_eq(conf_env(&c, &f), 0);
	ck_assert_str_eq(c.password_file, "/run/secrets/smtp");
	ck_assert_ptr_null(c.password_command);
	ck_assert_ptr_null(c.password);
	ck_assert_int_eq(conf_finish(&c, &f), 0);
	conf_free(&c);

	ck_assert_int_eq(parse(&c, "host = \"h\"\npassword = 'file'\n", &f),
	    0);
	setenv("RELAYMAIL_PASSWORD", "from env", 1);
	ck_assert_int_eq(conf_env(&c, &f), -1);
	ck_assert_ptr_nonnull(strstr(f.msg, "only one of"));
	ck_assert_ptr_null(strstr(f.msg, "from env"));
	unsetenv("RELAYMAIL_PASSWORD_FILE");
	ck_assert_int_eq(conf_env(&c, &f), 0);
	ck_assert_str_eq(c.password, "from env");
	ck_assert_ptr_null(c.password_file);
	ck_assert_ptr_null(getenv("RELAYMAIL_PASSWORD"));
	ck_assert_int_eq(conf_finish(&c, &f), 0);
	conf_free(&c);

	setenv("RELAYMAIL_PASSWORD", "a\nb", 1);
	ck_assert_int_eq(parse(&c, "host = \"h\"\n", &f), 0);
	ck_assert_int_eq(conf_env(&c, &f), -1);
	ck_assert_ptr_null(strstr(f.msg, "a\nb"));
	unsetenv("RELAYMAIL_PASSWORD");
	conf_free(&c);
}
END_TEST

Suite *
conf_suite(void)
{
	Suite	*s = suite_create("conf");
	TCase	*tc = tcase_create("parse");

	tcase_add_test(tc, test_full_example);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_errors_name_line_not_value);
	tcase_add_test(tc, test_host_required);
	tcase_add_test(tc, test_env);
	tcase_add_test(tc, test_control_chars);
	tcase_add_test(tc, test_password_expansion);
	tcase_add_test(tc, test_syntax_errors_hide_password);
	tcase_add_test(tc, test_one_secret_source);
	tcase_add_test(tc, test_env_secret);
	suite_add_tcase(s, tc);
	return s;
}
