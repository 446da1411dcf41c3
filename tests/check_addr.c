/*
 * check_addr.c -- unit tests for addr.c: RFC 5322 Appendix A, the forms
 * real callers (cron, anacron, mail(1)) write, errors, limits, paths.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"
#include "addr.h"

struct want {
	const char	*spec;
	const char	*display;
	size_t		 local_end;
	int		 has_domain;
};

#define NWANT(w)	(sizeof(w) / sizeof((w)[0]))

/* Parse in[0..len) and compare every field of every address. */
static void
check_list(const char *in, size_t len, const struct want *w, size_t n)
{
	struct addrlist	l = { NULL, 0, 0 };
	struct fail	f;
	size_t		i;

	memset(&f, 0, sizeof(f));
	ck_assert_msg(addr_parse_list(in, len, &l, &f) == 0,
	    "parse \"%s\" failed: %s", in, f.msg);
	ck_assert_uint_eq(l.n, n);
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(l.v[i].spec, w[i].spec);
		ck_assert_pstr_eq(l.v[i].display, w[i].display);
		ck_assert_uint_eq(l.v[i].local_end, w[i].local_end);
		ck_assert_int_eq(l.v[i].has_domain, w[i].has_domain);
	}
	addrlist_free(&l);
}

#define LIST(in, ...) do {						\
	const struct want	w_[] = { __VA_ARGS__ };			\
	check_list((in), strlen(in), w_, NWANT(w_));			\
} while (0)

#define EMPTY(in)	check_list((in), strlen(in), NULL, 0)

/*
 * in[0..len) must fail with EX_DATAERR and a message containing needle,
 * leaving an address parsed by an earlier call in place and adding none.
 */
static void
check_error(const char *in, size_t len, const char *needle)
{
	struct addrlist	l = { NULL, 0, 0 };
	struct fail	f;

	memset(&f, 0, sizeof(f));
	ck_assert_int_eq(addr_parse_list("keep@x", 6, &l, &f), 0);
	ck_assert_msg(addr_parse_list(in, len, &l, &f) == -1,
	    "\"%s\" was accepted", in);
	ck_assert_int_eq(f.ex, EX_DATAERR);
	ck_assert_msg(strstr(f.msg, needle) != NULL,
	    "\"%s\": message \"%s\" lacks \"%s\"", in, f.msg, needle);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.v[0].spec, "keep@x");
	addrlist_free(&l);
}

#define ERR(in, needle)	check_error((in), strlen(in), (needle))

/* The message for a failing in[0..len), exactly. */
static void
check_msg(const char *in, size_t len, const char *msg)
{
	struct addrlist	l = { NULL, 0, 0 };
	struct fail	f;

	memset(&f, 0, sizeof(f));
	ck_assert_int_eq(addr_parse_list(in, len, &l, &f), -1);
	ck_assert_str_eq(f.msg, msg);
	ck_assert_uint_eq(l.n, 0);
	addrlist_free(&l);
}

/* A.1.1: a message from one person to another with simple addressing. */
START_TEST(test_a1_1)
{
	LIST("John Doe <jdoe@machine.example>",
	    { "jdoe@machine.example", "John Doe", 14, 1 });
	LIST("Michael Jones <mjones@machine.example>",
	    { "mjones@machine.example", "Michael Jones", 21, 1 });
	LIST("Mary Smith <mary@example.net>",
	    { "mary@example.net", "Mary Smith", 16, 1 });
}
END_TEST

/* A.1.2: different types of mailboxes. */
START_TEST(test_a1_2)
{
	LIST("\"Joe Q. Public\" <john.q.public@example.com>",
	    { "john.q.public@example.com", "\"Joe Q. Public\"", 30, 1 });
	LIST("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
	    { "mary@x.test", "Mary Smith", 16, 1 },
	    { "jdoe@example.org", NULL, 30, 1 },
	    { "one@y.test", "Who?", 53, 1 });
	LIST("<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" "
	    "<sysservices@example.net>",
	    { "boss@nil.test", NULL, 5, 1 },
	    { "sysservices@example.net", "\"Giant; \\\"Big\\\" Box\"", 50,
	    1 });
}
END_TEST

/* A.1.3: group addresses, with members and empty. */
START_TEST(test_a1_3)
{
	LIST("Pete <pete@silly.example>",
	    { "pete@silly.example", "Pete", 10, 1 });
	LIST("A Group:Ed Jones <c@a.test>,joe@where.test,John "
	    "<jdoe@one.test>;",
	    { "c@a.test", "Ed Jones", 19, 1 },
	    { "joe@where.test", NULL, 31, 1 },
	    { "jdoe@one.test", "John", 53, 1 });
	EMPTY("Undisclosed recipients:;");
}
END_TEST

/* A.2 (reply), A.3 (resent) and A.4 (trace): their address fields. */
START_TEST(test_a2_a4)
{
	LIST("\"Mary Smith: Personal Account\" <smith@home.example>",
	    { "smith@home.example", "\"Mary Smith: Personal Account\"", 37,
	    1 });
	LIST("Jane Brown <j-brown@other.example>",
	    { "j-brown@other.example", "Jane Brown", 19, 1 });
	LIST("John Doe <jdoe@node.example>",
	    { "jdoe@node.example", "John Doe", 14, 1 });
	LIST("Mary Smith <mary@example.net>",
	    { "mary@example.net", "Mary Smith", 16, 1 });
}
END_TEST

/* A.5: white space, comments, and other oddities. */
START_TEST(test_a5)
{
	LIST("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
	    { "pete@silly.test", "Pete", 26, 1 });
	LIST("A Group(Some people)\r\n     :Chris Jones "
	    "<c@(Chris's host.)public.example>,\r\n         joe@example.org,"
	    "\r\n  John <jdoe@one.test> (my dear friend); (the end of the "
	    "group)",
	    { "c@public.example", "Chris Jones", 42, 1 },
	    { "joe@example.org", NULL, 88, 1 },
	    { "jdoe@one.test", "John", 115, 1 });
	EMPTY("(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;");
}
END_TEST

/* A.6.1 and A.6.3: obsolete addressing, white space and comments. */
START_TEST(test_a6)
{
	LIST("Joe Q. Public <john.q.public@example.com>",
	    { "john.q.public@example.com", "Joe Q. Public", 28, 1 });
	LIST("Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
	    { "mary@example.net", "Mary Smith", 27, 1 },
	    { "jdoe@test.example", NULL, 48, 1 });
	LIST("John Doe <jdoe@machine(comment).  example>",
	    { "jdoe@machine.example", "John Doe", 14, 1 });
	LIST("Mary Smith\r\n  \r\n <mary@example.net>",
	    { "mary@example.net", "Mary Smith", 22, 1 });
	LIST("Chris Jones <c@(Chris's host.)public.example>",
	    { "c@public.example", "Chris Jones", 14, 1 });
	LIST("<@a.example,@b.example:joe@c.example>",
	    { "joe@c.example", NULL, 26, 1 });
	LIST("john . doe @ example . com",
	    { "john.doe@example.com", NULL, 10, 1 });
}
END_TEST

/* What cron, anacron, mail(1) and scripts pass on the command line. */
START_TEST(test_callers)
{
	LIST("root", { "root", NULL, 4, 0 });
	LIST("root(Cron Daemon)", { "root", NULL, 4, 0 });
	LIST("root (Cron Daemon), ops", { "root", NULL, 4, 0 },
	    { "ops", NULL, 23, 0 });
	LIST("-dash@x", { "-dash@x", NULL, 5, 1 });
	LIST("x", { "x", NULL, 1, 0 });
	LIST("\"Cron Daemon\" <root>",
	    { "root", "\"Cron Daemon\"", 19, 0 });
	LIST("Fail2Ban <root@host.example.org>",
	    { "root@host.example.org", "Fail2Ban", 14, 1 });
	LIST("=?utf-8?B?SsO8cmdlbg==?= <j>",
	    { "j", "=?utf-8?B?SsO8cmdlbg==?=", 27, 0 });
	LIST("root (Cron Daemon)", { "root", NULL, 4, 0 });
	LIST("\"(Cron Daemon)\" <alice>",
	    { "alice", "\"(Cron Daemon)\"", 22, 0 });
	LIST("Anacron <root>", { "root", "Anacron", 13, 0 });
	LIST("<root>", { "root", NULL, 5, 0 });
	LIST("www-data", { "www-data", NULL, 8, 0 });
	LIST("alice,ops@x", { "alice", NULL, 5, 0 }, { "ops@x", NULL, 9, 1 });
	LIST("\"Doe, John\" <j@x>", { "j@x", "\"Doe, John\"", 14, 1 });
	LIST("a@b (x (y) z)", { "a@b", NULL, 1, 1 });
	LIST("\"john doe\"@x", { "\"john doe\"@x", NULL, 10, 1 });
	LIST("a@[127.0.0.1]", { "a@[127.0.0.1]", NULL, 1, 1 });
	LIST("a@[ 127.0.0.1 ]", { "a@[127.0.0.1]", NULL, 1, 1 });
	LIST("a@[x\\ y]", { "a@[x\\ y]", NULL, 1, 1 });
	LIST("team: a@x, b@y;", { "a@x", NULL, 7, 1 }, { "b@y", NULL, 12, 1 });
	LIST("team: a@x", { "a@x", NULL, 7, 1 });
	EMPTY("undisclosed-recipients:;");
	EMPTY("undisclosed-recipients:");
	LIST("a@x,,b@y", { "a@x", NULL, 1, 1 }, { "b@y", NULL, 6, 1 });
	LIST(",a@x,", { "a@x", NULL, 2, 1 });
	LIST("a@x,\nb@y", { "a@x", NULL, 1, 1 }, { "b@y", NULL, 6, 1 });
	EMPTY("");
	EMPTY("  \t ");
	EMPTY(",");
	EMPTY(" , ,, ");
	EMPTY("(just a comment)");
	LIST("J\xc3\xb6rg M\xc3\xbcller <j\xc3\xb6rg@example.de>",
	    { "j\xc3\xb6rg@example.de", "J\xc3\xb6rg M\xc3\xbcller", 20, 1 });
	LIST("John (middle) Doe <j@x>", { "j@x", "John (middle) Doe", 20, 1 });
	LIST("Mary\r\n Smith <m@x>", { "m@x", "Mary Smith", 15, 1 });
	LIST("\"a\r\n b\"@x", { "\"a b\"@x", NULL, 7, 1 });
	LIST("Who? <a.\"b c\"@x>", { "a.\"b c\"@x", "Who?", 13, 1 });
}
END_TEST

/* local_end is where "@domain" goes to qualify a bare name in place. */
START_TEST(test_qualify_in_place)
{
	const char	*in = "root (Cron Daemon), Anacron <ops>";
	struct addrlist	 l = { NULL, 0, 0 }, q = { NULL, 0, 0 };
	struct fail	 f;
	char		 out[128];

	ck_assert_int_eq(addr_parse_list(in, strlen(in), &l, &f), 0);
	ck_assert_uint_eq(l.n, 2);
	/* Insert from the last address back, so earlier offsets hold. */
	(void)snprintf(out, sizeof(out), "%.*s@example.com%.*s@example.com%s",
	    (int)l.v[0].local_end, in,
	    (int)(l.v[1].local_end - l.v[0].local_end), in + l.v[0].local_end,
	    in + l.v[1].local_end);
	ck_assert_str_eq(out, "root@example.com (Cron Daemon), "
	    "Anacron <ops@example.com>");
	ck_assert_int_eq(addr_parse_list(out, strlen(out), &q, &f), 0);
	ck_assert_str_eq(q.v[0].spec, "root@example.com");
	ck_assert_str_eq(q.v[1].spec, "ops@example.com");
	ck_assert_int_eq(q.v[1].has_domain, 1);
	addrlist_free(&l);
	addrlist_free(&q);
}
END_TEST

/* src_start/src_end: the address (or angle-addr) as written, which
 * header.c replaces for rewrite_from keeping everything around it. */
static void
check_span(const char *in, size_t i, const char *want)
{
	struct addrlist	l = { NULL, 0, 0 };
	struct fail	f;

	ck_assert_int_eq(addr_parse_list(in, strlen(in), &l, &f), 0);
	ck_assert_uint_gt(l.n, i);
	ck_assert_uint_le(l.v[i].src_start, l.v[i].src_end);
	ck_assert_uint_le(l.v[i].src_end, strlen(in));
	ck_assert_msg(strlen(want) == l.v[i].src_end - l.v[i].src_start &&
	    memcmp(in + l.v[i].src_start, want, strlen(want)) == 0,
	    "\"%s\" #%zu: span \"%.*s\", want \"%s\"", in, i,
	    (int)(l.v[i].src_end - l.v[i].src_start), in + l.v[i].src_start,
	    want);
	addrlist_free(&l);
}

START_TEST(test_spans)
{
	check_span("root", 0, "root");
	check_span("root (Cron Daemon)", 0, "root");
	check_span("  root@host.example  (Cron Daemon)", 0,
	    "root@host.example");
	check_span("\"(Cron Daemon)\" <alice>", 0, "<alice>");
	check_span("Anacron <root@x> (comment)", 0, "<root@x>");
	check_span("< root @ x . y >", 0, "< root @ x . y >");
	check_span("a@[127.0.0.1] (lit)", 0, "a@[127.0.0.1]");
	check_span("john . doe @ example . com", 0,
	    "john . doe @ example . com");
	check_span("\"john doe\"@x, b", 0, "\"john doe\"@x");
	check_span("\"john doe\"@x, b", 1, "b");
	check_span("Team: a@x (one), B <b@y>;", 0, "a@x");
	check_span("Team: a@x (one), B <b@y>;", 1, "<b@y>");
	check_span("Mary Smith <@node.test:mary@example.net>", 0,
	    "<@node.test:mary@example.net>");
}
END_TEST

START_TEST(test_accumulate)
{
	struct addrlist	l = { NULL, 0, 0 };
	struct fail	f;

	ck_assert_int_eq(addr_parse_list("a@x", 3, &l, &f), 0);
	ck_assert_int_eq(addr_parse_list("b@y, c@z", 8, &l, &f), 0);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_str_eq(l.v[2].spec, "c@z");
	/* A failing call adds nothing, even what it parsed before failing. */
	ck_assert_int_eq(addr_parse_list("d@w, (", 6, &l, &f), -1);
	ck_assert_uint_eq(l.n, 3);
	addrlist_free(&l);
	ck_assert_ptr_null(l.v);
	ck_assert_uint_eq(l.n, 0);
	addrlist_free(&l);
}
END_TEST

START_TEST(test_errors)
{
	ERR("Name <a@b", "unbalanced '<'");
	ERR("Name <", "unbalanced '<'");
	ERR("\"Doe, John <j@x>", "unbalanced '\"'");
	ERR("root (Cron Daemon", "unbalanced '('");
	ERR("root (a (b)", "unbalanced '('");
	ERR("a@[1.2.3.4", "unbalanced '['");
	ERR("a@b)", "unbalanced ')'");
	ERR(">", "unbalanced '>'");
	ERR("@x", "empty local part");
	ERR("<@x>", "empty local part");
	ERR("Name <@x>", "empty local part");
	ERR("\"\"@x", "empty local part");
	ERR("<\"\">", "empty local part");
	ERR("<>", "no address in <>");
	ERR("Name < (c) >", "no address in <>");
	ERR("John Doe john@x", "not an address");
	ERR("John Doe", "not an address");
	ERR(".a@x", "not an address");
	ERR("a..b@x", "not an address");
	ERR("a.@x", "not an address");
	ERR("[1.2.3.4]", "not an address");
	ERR("<john doe@x>", "malformed address in <>");
	ERR("<a@b c>", "malformed address in <>");
	ERR("<@a.example c@d>", "malformed route");
	ERR("a@b c@d", "expected ','");
	ERR("Name <a@b> junk", "expected ','");
	ERR("a@b>", "unbalanced '>'");
	ERR("a@b, ;", "';' outside a group");
	ERR("a@b@c", "expected ','");
	ERR("a@", "domain");
	ERR("a@b.", "domain");
	ERR("a@b..c", "domain");
	ERR("a@\"b\"", "domain");
	ERR("g: h: a@b;;", "group inside a group");
	ERR(": a@b;", "group without a name");
	ERR("a@b;", "';' outside a group");
	ERR("a\\b@c", "unexpected character");
	ERR("a]@c", "unexpected character");
	ERR("a\x01@c", "control character");
	ERR("a\x7f@c", "control character");
	ERR("\"a\x01\"@c", "control character");
	ERR("\"a\nb\"@c", "line break");
	ERR("(a\nb) c@d", "line break");
	ERR("\"a\\\n \"@c", "control character after '\\'");
	ERR("\"a\\", "unbalanced '\"'");
}
END_TEST

START_TEST(test_nul)
{
	check_error("a@b\0", 4, "NUL byte");
	check_error("a\0b@c", 5, "NUL byte");
	check_error("\"a\0b\"@c", 7, "NUL byte");
	check_error("x@y (a\0b)", 9, "NUL byte");
	check_error("Name <a@b>\0, c@d", 16, "NUL byte");
	check_msg("a\0b", 3, "address \"a\\x00b\": NUL byte");
}
END_TEST

/* Messages name the offending element, escaped and truncated. */
START_TEST(test_messages)
{
	char	in[201], want[160];

	check_msg("Name <a@b", 9, "address \"Name <a@b\": unbalanced '<'");
	check_msg("a@x, John Doe john@y", 20,
	    "address \"John Doe john@y\": not an address (a name needs <...>)");
	check_msg("ok@x, \"bad", 10, "address \"\\\"bad\": unbalanced '\"'");
	check_msg("g: ok@x,\r\n  j\xc3\xb6rg doe", 21,
	    "address \"j\\xc3\\xb6rg doe\": not an address (a name needs <...>)");
	memset(in, 'a', 200);
	in[0] = '(';
	(void)snprintf(want, sizeof(want), "address \"(%.79s...\": "
	    "unbalanced '('", in + 1);
	check_msg(in, 200, want);
}
END_TEST

START_TEST(test_comment_depth)
{
	char	in[256];
	size_t	n;

	/* 64 levels are fine... */
	n = (size_t)snprintf(in, sizeof(in), "a@b %.64s%.64s",
	    "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((",
	    "))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))");
	ck_assert_uint_eq(n, 4 + 128);
	check_list(in, n, (const struct want[]){ { "a@b", NULL, 1, 1 } }, 1);
	/* ...65 are not. */
	n = (size_t)snprintf(in, sizeof(in), "a@b (%.64s%.64s)",
	    "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((",
	    "))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))");
	check_error(in, n, "comments nested too deeply");
}
END_TEST

/* Only s[0..len) is read: the buffer has no NUL after it. */
START_TEST(test_length_bound)
{
	const char	*src = "root (Cron Daemon)";
	size_t		 n = strlen(src);
	char		*p = malloc(n);

	ck_assert_ptr_nonnull(p);
	memcpy(p, src, n);
	check_list(p, n, (const struct want[]){ { "root", NULL, 4, 0 } }, 1);
	check_list("a@b.example", 3,
	    (const struct want[]){ { "a@b", NULL, 1, 1 } }, 1);
	check_error("\"abc\"", 2, "unbalanced '\"'");
	check_error(p, 10, "unbalanced '('");
	check_list(p, 0, NULL, 0);
	free(p);
}
END_TEST

/* 100,000 bytes: 5,000 addresses, one huge local part, deep parens. */
START_TEST(test_big_input)
{
	const size_t	 n = 100000;
	struct addrlist	 l = { NULL, 0, 0 };
	struct fail	 f;
	char		*p = malloc(n), tmp[48];
	size_t		 i;

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < n / 20; i++) {
		(void)snprintf(tmp, sizeof(tmp), "u%05zu@example.com, ", i);
		memcpy(p + i * 20, tmp, 20);
	}
	ck_assert_int_eq(addr_parse_list(p, n, &l, &f), 0);
	ck_assert_uint_eq(l.n, 5000);
	ck_assert_str_eq(l.v[4999].spec, "u04999@example.com");
	ck_assert_uint_eq(l.v[4999].local_end, 4999 * 20 + 6);
	addrlist_free(&l);

	memset(p, 'x', n);
	ck_assert_int_eq(addr_parse_list(p, n, &l, &f), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(strlen(l.v[0].spec), n);
	ck_assert_uint_eq(l.v[0].local_end, n);
	addrlist_free(&l);

	memset(p, '(', n);
	check_error(p, n, "comments nested too deeply");
	memset(p, '"', n);
	check_error(p, n, "not an address");
	free(p);
}
END_TEST

/*
 * Random text from the bytes that matter: never a crash (ASan/UBSan
 * runs), and every result round-trips: "display <spec>" parses back to
 * the same display and spec.
 */
START_TEST(test_random)
{
	static const char	 alpha[] = "ab@<>\"(),.:; \\[]\r\n\t\x80\x01";
	struct addrlist		 l = { NULL, 0, 0 }, r = { NULL, 0, 0 };
	struct fail		 f;
	struct buf		 b = { NULL, 0, 0 };
	char			 in[32];
	uint32_t		 seed = 12345;
	size_t			 i, j, n;

	for (i = 0; i < 200000; i++) {
		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % sizeof(in);
		for (j = 0; j < n; j++) {
			seed = seed * 1103515245u + 12345u;
			in[j] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
		}
		if (addr_parse_list(in, n, &l, &f) == -1) {
			ck_assert_int_eq(f.ex, EX_DATAERR);
			ck_assert_uint_eq(l.n, 0);
			addrlist_free(&l);
			continue;
		}
		for (j = 0; j < l.n; j++) {
			ck_assert_uint_le(l.v[j].local_end, n);
			ck_assert_ptr_null(strpbrk(l.v[j].spec, "\r\n"));
			buf_reset(&b);
			ck_assert_int_eq(buf_addf(&b, "%s <%s>",
			    l.v[j].display ? l.v[j].display : "",
			    l.v[j].spec), 0);
			ck_assert_msg(addr_parse_list(b.p, b.len, &r, &f) == 0,
			    "%s: %s", b.p, f.msg);
			ck_assert_uint_eq(r.n, 1);
			ck_assert_str_eq(r.v[0].spec, l.v[j].spec);
			ck_assert_pstr_eq(r.v[0].display, l.v[j].display);
			addrlist_free(&r);
		}
		addrlist_free(&l);
	}
	buf_free(&b);
}
END_TEST

static void
check_path(const char *in, const char *spec, const char *display,
    size_t local_end, int has_domain)
{
	struct addr	a;
	struct fail	f;

	ck_assert_msg(addr_parse_path(in, &a, &f) == 0, "%s: %s", in, f.msg);
	ck_assert_str_eq(a.spec, spec);
	ck_assert_pstr_eq(a.display, display);
	ck_assert_uint_eq(a.local_end, local_end);
	ck_assert_int_eq(a.has_domain, has_domain);
	addr_free(&a);
}

static void
check_path_error(const char *in, const char *needle)
{
	struct addr	a;
	struct fail	f;

	ck_assert_msg(addr_parse_path(in, &a, &f) == -1, "%s accepted", in);
	ck_assert_int_eq(f.ex, EX_USAGE);
	ck_assert_msg(strstr(f.msg, needle) != NULL, "%s", f.msg);
	ck_assert_ptr_null(a.spec);
	ck_assert_ptr_null(a.display);
}

START_TEST(test_parse_path)
{
	check_path("", "", NULL, 0, 0);
	check_path("<>", "", NULL, 0, 0);
	check_path(" < > ", "", NULL, 0, 0);
	check_path("root", "root", NULL, 4, 0);
	check_path("<a@b>", "a@b", NULL, 2, 1);
	check_path("a@b", "a@b", NULL, 1, 1);
	check_path("Name <a@b>", "a@b", "Name", 7, 1);
	check_path("root (Cron Daemon)", "root", NULL, 4, 0);
	check_path_error("a@b, c@d", "more than one address");
	check_path_error("undisclosed-recipients:;", "no mailbox");
	check_path_error(",", "no mailbox");
	check_path_error("Name <a@b", "unbalanced '<'");
	check_path_error("<<>>", "empty local part");
	check_path_error("a@b\r\nRCPT TO:<x@y>", "expected ','");
	check_path_error("\"a\r\nb\"@c", "line break");
}
END_TEST

static void
check_path_bad(const char *spec, const char *msg)
{
	struct fail	f;

	ck_assert_int_eq(addr_check_path(spec, &f), -1);
	ck_assert_int_eq(f.ex, EX_DATAERR);
	ck_assert_str_eq(f.msg, msg);
}

START_TEST(test_check_path)
{
	struct fail	f;
	char		long_spec[300];

	ck_assert_int_eq(addr_check_path("a@b", &f), 0);
	ck_assert_int_eq(addr_check_path("", &f), 0);
	ck_assert_int_eq(addr_check_path("root", &f), 0);
	ck_assert_int_eq(addr_check_path("\"john doe\"@x", &f), 0);
	ck_assert_int_eq(addr_check_path("\"a\\\" b\"@x", &f), 0);
	ck_assert_int_eq(addr_check_path("j\xc3\xb6rg@x", &f), 0);
	check_path_bad("a b@c", "address \"a b@c\": space outside quotes");
	check_path_bad("\"a\\\\\" b@c",
	    "address \"\\\"a\\\\\\\\\\\" b@c\": space outside quotes");
	check_path_bad("a@b\r\nRCPT TO:<x@y>",
	    "address \"a@b\\x0d\\x0aRCPT TO:<x@y>\": control character");
	check_path_bad("a\n@b", "address \"a\\x0a@b\": control character");
	check_path_bad("a\t@b", "address \"a\\x09@b\": control character");
	check_path_bad("a\x7f@b", "address \"a\\x7f@b\": control character");
	check_path_bad("\"a\x01\"@b",
	    "address \"\\\"a\\x01\\\"@b\": control character");
	check_path_bad("\"a\\\x01\"@b",
	    "address \"\\\"a\\\\\\x01\\\"@b\": control character");
	/* 254 octets plus "<>" is the limit of RFC 5321 §4.5.3.1.3. */
	memset(long_spec, 'a', 254);
	long_spec[252] = '@';
	long_spec[254] = '\0';
	ck_assert_int_eq(addr_check_path(long_spec, &f), 0);
	long_spec[254] = 'a';
	long_spec[255] = '\0';
	ck_assert_int_eq(addr_check_path(long_spec, &f), -1);
	ck_assert_int_eq(f.ex, EX_DATAERR);
	ck_assert_ptr_nonnull(strstr(f.msg,
	    "...\": longer than 256 octets with the brackets"));
}
END_TEST

static void
add(struct addrlist *l, const char *spec, const char *display)
{
	struct addr	a = { .spec = (char *)spec, .display = (char *)display };
	struct fail	f;

	ck_assert_int_eq(addrlist_add_unique(l, &a, &f), 0);
}

START_TEST(test_dedupe)
{
	struct addrlist	l = { NULL, 0, 0 };
	char		spec[] = "Root@Example.COM";
	size_t		i;

	add(&l, spec, "Root");
	spec[0] = 'X';			/* the list holds its own copy */
	add(&l, "Root@example.com", NULL);
	add(&l, "root@example.com", NULL);
	add(&l, "root", NULL);
	add(&l, "root", "Again");
	add(&l, "ROOT", NULL);
	add(&l, "\"a@b\"@X", NULL);
	add(&l, "\"a@b\"@x", NULL);
	add(&l, "\"a@B\"@x", NULL);
	add(&l, "a@[127.0.0.1]", NULL);
	add(&l, "a@[127.0.0.1]", NULL);
	ck_assert_uint_eq(l.n, 7);
	ck_assert_str_eq(l.v[0].spec, "Root@Example.COM");
	ck_assert_str_eq(l.v[0].display, "Root");
	ck_assert_str_eq(l.v[1].spec, "root@example.com");
	ck_assert_str_eq(l.v[2].spec, "root");
	ck_assert_ptr_null(l.v[2].display);
	ck_assert_str_eq(l.v[3].spec, "ROOT");
	ck_assert_str_eq(l.v[4].spec, "\"a@b\"@X");
	ck_assert_str_eq(l.v[5].spec, "\"a@B\"@x");
	ck_assert_str_eq(l.v[6].spec, "a@[127.0.0.1]");
	for (i = 0; i < 40; i++) {
		char	s[16];

		(void)snprintf(s, sizeof(s), "u%zu@x", i % 20);
		add(&l, s, NULL);
	}
	ck_assert_uint_eq(l.n, 27);
	addrlist_free(&l);
}
END_TEST

Suite *
addr_suite(void)
{
	Suite	*s = suite_create("addr");
	TCase	*rfc = tcase_create("rfc5322");
	TCase	*use = tcase_create("callers");
	TCase	*bad = tcase_create("errors");
	TCase	*lim = tcase_create("limits");

	tcase_add_test(rfc, test_a1_1);
	tcase_add_test(rfc, test_a1_2);
	tcase_add_test(rfc, test_a1_3);
	tcase_add_test(rfc, test_a2_a4);
	tcase_add_test(rfc, test_a5);
	tcase_add_test(rfc, test_a6);
	tcase_add_test(use, test_callers);
	tcase_add_test(use, test_qualify_in_place);
	tcase_add_test(use, test_spans);
	tcase_add_test(use, test_accumulate);
	tcase_add_test(use, test_parse_path);
	tcase_add_test(use, test_check_path);
	tcase_add_test(use, test_dedupe);
	tcase_add_test(bad, test_errors);
	tcase_add_test(bad, test_nul);
	tcase_add_test(bad, test_messages);
	tcase_add_test(lim, test_comment_depth);
	tcase_add_test(lim, test_length_bound);
	tcase_add_test(lim, test_big_input);
	tcase_add_test(lim, test_random);
	tcase_set_timeout(lim, 60);
	suite_add_tcase(s, rfc);
	suite_add_tcase(s, use);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, lim);
	return s;
}
