/*
 * smtp.c: dot-stuffing (RFC 5321 §4.5.2), including '.' at every
 * possible buffer boundary (curl needed three fixes there).
 */
#include <check.h>
#include <string.h>

#include "smtp.h"
#include "util.h"

static int
to_buf(void *arg, const char *p, size_t n, struct fail *f)
{
	(void)f;
	return buf_add(arg, p, n);
}

/* Stuff in, split into pieces of size step. */
static void
stuff(const char *in, size_t step, struct buf *out)
{
	struct fail	f;
	size_t		n = strlen(in), i, k;
	int		bol = 1;

	for (i = 0; i < n; i += k) {
		k = n - i < step ? n - i : step;
		ck_assert_int_eq(smtp_dotstuff(in + i, k, &bol, to_buf, out,
		    &f), 0);
	}
	buf_add(out, "", 0);
}

START_TEST(test_stuffing)
{
	static const char in[] = ".\r\n..\r\na.b\r\n.x\r\n\r\n.\r\n";
	static const char want[] =
	    "..\r\n...\r\na.b\r\n..x\r\n\r\n..\r\n";
	struct buf	out = { 0 };
	size_t		step;

	for (step = 1; step <= sizeof(in); step++) {
		buf_reset(&out);
		stuff(in, step, &out);
		ck_assert_msg(strcmp(out.p, want) == 0, "step %zu: %s", step,
		    out.p);
	}
	buf_free(&out);
}
END_TEST

START_TEST(test_no_dots)
{
	struct buf	out = { 0 };

	stuff("hello\r\nworld\r\n", 4, &out);
	ck_assert_str_eq(out.p, "hello\r\nworld\r\n");
	buf_free(&out);
}
END_TEST

Suite *
smtp_suite(void)
{
	Suite	*s = suite_create("smtp");
	TCase	*tc = tcase_create("dotstuff");

	tcase_add_test(tc, test_stuffing);
	tcase_add_test(tc, test_no_dots);
	suite_add_tcase(s, tc);
	return s;
}
