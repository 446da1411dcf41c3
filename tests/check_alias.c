/*
 * alias.c: aliases(5) syntax, chains, loops, refused targets,
 * default_to and qualification.
 */
#include <check.h>
#include <string.h>
#include <sysexits.h>

#include "addr.h"
#include "alias.h"
#include "util.h"

static const char table[] =
    "# comment\n"
    "postmaster: root\n"
    "root: alice, \"bob smith\"@example.net,\n"
    "\tops@example.com\n"
    "alice : alice@example.org\n"
    "MixedCase: m@example.org\n"
    "loop1: loop2\n"
    "loop2: loop1\n"
    "prog: |/usr/bin/procmail, /var/log/mail, :include:/x, ok@x.org\n"
    "self: \\self\n"
    "dup: alice, alice@example.org\n";

static void
db_init(struct alias_db *db, const char *default_to)
{
	struct fail	f;

	memset(db, 0, sizeof(*db));
	db->domain = "example.org";
	db->fqdn = "host.example.org";
	db->default_to = default_to;
	ck_assert_int_eq(alias_parse(db, table, strlen(table), "aliases",
	    &f), 0);
}

/* Resolve spec and compare with the comma-joined expectation. */
static void
resolves(const struct alias_db *db, const char *spec, const char *want)
{
	struct addrlist	out = { 0 };
	struct buf	b = { 0 };
	struct fail	f;
	size_t		i;

	ck_assert_int_eq(alias_resolve(db, spec, &out, &f), 0);
	for (i = 0; i < out.n; i++)
		buf_addf(&b, "%s%s", i ? "," : "", out.v[i].spec);
	buf_add(&b, "", 0);
	ck_assert_msg(strcmp(b.p, want) == 0, "%s -> %s, want %s", spec,
	    b.p, want);
	buf_free(&b);
	addrlist_free(&out);
}

START_TEST(test_chains)
{
	struct alias_db	db;

	db_init(&db, NULL);
	resolves(&db, "postmaster", "alice@example.org,"
	    "\"bob smith\"@example.net,ops@example.com");
	resolves(&db, "root@localhost", "alice@example.org,"
	    "\"bob smith\"@example.net,ops@example.com");
	resolves(&db, "ROOT@host.example.org", "alice@example.org,"
	    "\"bob smith\"@example.net,ops@example.com");
	resolves(&db, "root@host", "alice@example.org,"
	    "\"bob smith\"@example.net,ops@example.com");
	resolves(&db, "mixedcase", "m@example.org");
	resolves(&db, "dup", "alice@example.org");
	alias_free(&db);
}
END_TEST

START_TEST(test_unaliased)
{
	struct alias_db	db;

	db_init(&db, NULL);
	resolves(&db, "www-data", "www-data@example.org");
	resolves(&db, "nobody@localhost", "nobody@example.org");
	resolves(&db, "root@elsewhere.net", "root@elsewhere.net");
	alias_free(&db);
	db_init(&db, "ops@example.com");
	resolves(&db, "www-data", "ops@example.com");
	resolves(&db, "root", "alice@example.org,"
	    "\"bob smith\"@example.net,ops@example.com");
	resolves(&db, "someone@example.net", "someone@example.net");
	alias_free(&db);
}
END_TEST

START_TEST(test_loops_and_refusals)
{
	struct alias_db	db;

	db_init(&db, NULL);
	resolves(&db, "loop1", "loop1@example.org");
	resolves(&db, "prog", "ok@x.org");
	resolves(&db, "self", "self@example.org");
	alias_free(&db);
	db_init(&db, "catchall");
	resolves(&db, "loop2", "catchall@example.org");
	alias_free(&db);
}
END_TEST

/* default_to takes a local name reached through an alias too: every
 * local name that no alias names ends there (SPEC §2.3). */
START_TEST(test_default_through_alias)
{
	struct alias_db	db;
	struct fail	f;
	static const char t[] = "root: pager, ops@example.com\r\n"
	    "pager: \\pager\r\n";

	memset(&db, 0, sizeof(db));
	db.domain = "example.org";
	db.fqdn = "host.example.org";
	db.default_to = "catchall";
	ck_assert_int_eq(alias_parse(&db, t, strlen(t), "aliases", &f), 0);
	resolves(&db, "root", "catchall@example.org,ops@example.com");
	resolves(&db, "nobody@host", "catchall@example.org");
	resolves(&db, "nobody@other.host", "nobody@other.host");
	alias_free(&db);
}
END_TEST

/* newaliases: every target checked, refused kinds only warned about. */
START_TEST(test_check)
{
	struct alias_db	db;
	struct fail	f;
	static const char bad[] = "ok: a@b\nbroken: x@y, <unbalanced\n";

	db_init(&db, NULL);
	ck_assert_int_eq(alias_check(&db, &f), 0);
	alias_free(&db);
	memset(&db, 0, sizeof(db));
	ck_assert_int_eq(alias_parse(&db, bad, strlen(bad), "aliases", &f),
	    0);
	ck_assert_int_eq(alias_check(&db, &f), -1);
	ck_assert_int_eq(f.ex, EX_CONFIG);
	ck_assert_str_eq(f.msg, "alias broken: bad target \"<unbalanced\"");
	alias_free(&db);
}
END_TEST

START_TEST(test_syntax_error)
{
	struct alias_db	db = { 0 };
	struct fail	f;

	ck_assert_int_eq(alias_parse(&db, "ok: a@b\n\nno colon here\n", 23,
	    "/etc/aliases", &f), -1);
	ck_assert_int_eq(f.ex, EX_CONFIG);
	ck_assert_ptr_nonnull(strstr(f.msg, "/etc/aliases:3"));
	alias_free(&db);
}
END_TEST

Suite *
alias_suite(void)
{
	Suite	*s = suite_create("alias");
	TCase	*tc = tcase_create("resolve");

	tcase_add_test(tc, test_chains);
	tcase_add_test(tc, test_unaliased);
	tcase_add_test(tc, test_loops_and_refusals);
	tcase_add_test(tc, test_default_through_alias);
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_syntax_error);
	suite_add_tcase(s, tc);
	return s;
}
