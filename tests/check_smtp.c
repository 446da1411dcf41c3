/*
 * smtp.c: dot-stuffing (RFC 5321 §4.5.2), including '.' at every
 * possible buffer boundary (curl needed three fixes there).
 */
#include <sys/socket.h>

#include <check.h>
#include <fcntl.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

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

/*
 * smtp_open() against a scripted server: the script is all the server
 * says, then EOF.  NULL or the session; f as smtp_open() left it.
 */
static struct smtp *
scripted_open(const char *script, const struct smtp_opts *o, int *peer,
    struct fail *f)
{
	int	sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(write(sv[1], script, strlen(script)),
	    (ssize_t)strlen(script));
	shutdown(sv[1], SHUT_WR);
	*peer = sv[1];
	return smtp_open(sv[0], o, f);
}

/*
 * The server's AUTH list is quoted when no mechanism fits: its control
 * octets (an escape sequence, a bare CR) must not reach stderr, syslog
 * or dead.letter (found by tests/fuzz/smtp.c).
 */
START_TEST(test_auth_list_quoted_safely)
{
	struct smtp_opts o = { 0 };
	struct fail	 f;
	int		 peer;
	const char	*p;

	o.host = "smtp.example.org";
	o.helo = "client.example.org";
	o.tls = CONF_TLS_NONE;
	o.auth = "cram-md5";
	o.user = "user";
	o.pass = "pw";
	o.auth_plaintext = 1;
	o.timeout_ms = 1000;
	o.final_timeout_ms = 1000;
	ck_assert_ptr_null(scripted_open("220 x\r\n250-x\r\n"
	    "250 AUTH PLAIN \x1b[2J\rX-Evil: 1 \x9b\r\n", &o, &peer, &f));
	close(peer);
	ck_assert_int_eq(f.ex, EX_NOPERM);
	ck_assert_msg(strstr(f.msg, "PLAIN ?[2J?X-Evil: 1 ?") != NULL, "%s",
	    f.msg);
	for (p = f.msg; *p != '\0'; p++)
		ck_assert_msg((unsigned char)*p >= 0x20 && *p != 0x7f,
		    "control octet in: %s", f.msg);
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
	tc = tcase_create("session");
	tcase_add_test(tc, test_auth_list_quoted_safely);
	suite_add_tcase(s, tc);
	return s;
}
