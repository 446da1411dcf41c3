/*
 * auth.c: RFC 4616 PLAIN vectors, LOGIN steps, mechanism choice.
 */
#include <check.h>
#include <string.h>
#include <sysexits.h>

#include "auth.h"
#include "util.h"

static void
step(int m, int n, const char *chal, const char *user, const char *pass,
    const char *want)
{
	struct auth_cred c = { user, pass };
	struct buf	 out = { 0 };
	struct fail	 f;

	ck_assert_int_eq(auth_step(m, n, chal, &c, &out, &f), 1);
	ck_assert_str_eq(out.p, want);
	buf_free(&out);
}

START_TEST(test_plain_rfc4616)
{
	struct fail	f;
	int		m = auth_choose("plain", "LOGIN PLAIN", &f);

	ck_assert_int_ge(m, 0);
	ck_assert_str_eq(auth_name(m), "PLAIN");
	/* RFC 4616 §4: "\0tim\0tanstaaftanstaaf" */
	step(m, 0, NULL, "tim", "tanstaaftanstaaf",
	    "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
	/* spaces, colons, quotes, '$', '#' and UTF-8 survive as bytes */
	step(m, 0, NULL, "a@b", "p w:\"$#\xc3\xa9",
	    "AGFAYgBwIHc6IiQjw6k=");
}
END_TEST

START_TEST(test_login)
{
	struct auth_cred c = { "u", "p" };
	struct buf	 out = { 0 };
	struct fail	 f;
	int		 m = auth_choose("login", "PLAIN LOGIN", &f);

	ck_assert_str_eq(auth_name(m), "LOGIN");
	ck_assert_int_eq(auth_step(m, 0, NULL, &c, &out, &f), 0);
	step(m, 1, "VXNlcm5hbWU6", "alice", "secret", "YWxpY2U=");
	step(m, 2, "UGFzc3dvcmQ6", "alice", "secret", "c2VjcmV0");
	ck_assert_int_eq(auth_step(m, 3, "", &c, &out, &f), -1);
	ck_assert_int_eq(f.ex, EX_PROTOCOL);
	buf_free(&out);
}
END_TEST

START_TEST(test_choose)
{
	struct fail	f;

	ck_assert_str_eq(auth_name(auth_choose("auto", "LOGIN PLAIN", &f)),
	    "PLAIN");
	ck_assert_str_eq(auth_name(auth_choose("auto", "login", &f)),
	    "LOGIN");
	ck_assert_int_eq(auth_choose("auto", "GSSAPI NTLM", &f), -1);
	ck_assert_int_eq(f.ex, EX_NOPERM);
	ck_assert_int_eq(auth_choose("login", "PLAIN", &f), -1);
	ck_assert_int_eq(f.ex, EX_NOPERM);
	/* a name that is a prefix of another must not match */
	ck_assert_int_eq(auth_choose("auto", "PLAINX LOGINY", &f), -1);
}
END_TEST

START_TEST(test_bad_challenge)
{
	struct auth_cred c = { "u", "p" };
	struct buf	 out = { 0 };
	struct fail	 f;
	int		 m = auth_choose("login", "LOGIN", &f);

	ck_assert_int_eq(auth_step(m, 1, "not base64!", &c, &out, &f), -1);
	ck_assert_int_eq(f.ex, EX_PROTOCOL);
	buf_free(&out);
}
END_TEST

START_TEST(test_b64)
{
	struct buf	b = { 0 };

	ck_assert_int_eq(auth_b64_decode("Zm9vYmE=", &b), 0);
	ck_assert_uint_eq(b.len, 5);
	ck_assert_str_eq(b.p, "fooba");
	buf_reset(&b);
	ck_assert_int_eq(auth_b64_decode("", &b), 0);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(auth_b64_encode((const unsigned char *)"f", 1, &b),
	    0);
	ck_assert_str_eq(b.p, "Zg==");
	buf_free(&b);
}
END_TEST

Suite *
auth_suite(void)
{
	Suite	*s = suite_create("auth");
	TCase	*tc = tcase_create("sasl");

	tcase_add_test(tc, test_plain_rfc4616);
	tcase_add_test(tc, test_login);
	tcase_add_test(tc, test_choose);
	tcase_add_test(tc, test_bad_challenge);
	tcase_add_test(tc, test_b64);
	suite_add_tcase(s, tc);
	return s;
}
