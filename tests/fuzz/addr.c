/*
 * libFuzzer harness for addr.c: RFC 5322 address lists (To/Cc/Bcc/From
 * values, -t and command-line recipients) and RFC 5321 paths (-f/-r).
 * Checks the properties header.c and relay.c rely on, not just "does
 * not crash":
 *   - a failed parse leaves the list as it was (n unchanged);
 *   - every address's source spans lie inside the input, in order
 *     (header.c edits the field in place at local_end and src_*);
 *   - spec and display hold no NUL, CR or LF (unfolded, CFWS removed),
 *     has_domain says whether the spec has its '@' domain;
 *   - a spec parses again, bare and inside <>, to itself (what relay.c
 *     re-parses after alias expansion and qualification);
 *   - addr_parse_path on the same text succeeds exactly when the list
 *     holds one mailbox, and then gives the same spec;
 *   - addrlist_add_unique keeps one copy of each spec.
 *
 *   make fuzz && .fuzz/addr tests/fuzz/corpus/addr
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "util.h"

#define CHECK(c)	do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", \
	__FILE__, __LINE__, #c); abort(); } } while (0)

static void
check_clean(const char *s)
{
	CHECK(s != NULL);
	CHECK(strpbrk(s, "\r\n") == NULL);
}

/* The '@' of a spec outside quotes, as addr.c finds it. */
static int
spec_has_at(const char *s)
{
	int	q = 0;

	for (; *s != '\0'; s++) {
		if (q && *s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			q = !q;
		else if (*s == '@' && !q)
			return 1;
	}
	return 0;
}

/* A spec that came out of the parser parses back to itself. */
static void
check_reparse(const struct addr *a)
{
	struct addrlist	 l = { 0 };
	struct fail	 f;
	struct buf	 b = { 0 };

	CHECK(addr_parse_list(a->spec, strlen(a->spec), &l, &f) == 0);
	CHECK(l.n == 1 && strcmp(l.v[0].spec, a->spec) == 0);
	CHECK(l.v[0].has_domain == a->has_domain);
	addrlist_free(&l);
	CHECK(buf_addf(&b, "Someone <%s>", a->spec) == 0);
	CHECK(addr_parse_list(b.p, b.len, &l, &f) == 0);
	CHECK(l.n == 1 && strcmp(l.v[0].spec, a->spec) == 0);
	CHECK(l.v[0].display != NULL &&
	    strcmp(l.v[0].display, "Someone") == 0);
	addrlist_free(&l);
	buf_free(&b);
}

static void
check_list(const char *s, size_t n, const struct addrlist *l, size_t n0)
{
	size_t	i, prev = 0;

	for (i = n0; i < l->n; i++) {
		const struct addr *a = &l->v[i];

		check_clean(a->spec);
		CHECK(a->spec[0] != '\0');
		if (a->display != NULL)
			check_clean(a->display);
		CHECK(a->src_start <= a->src_end && a->src_end <= n);
		CHECK(a->src_start >= prev);
		CHECK(a->local_end > a->src_start && a->local_end <= a->src_end);
		CHECK(a->has_domain == spec_has_at(a->spec));
		prev = a->src_end;
		(void)s;
		check_reparse(a);
	}
}

/* The same text as a -f argument. */
static void
check_path(const char *s, const struct addrlist *l, int listok)
{
	struct addr	a;
	struct fail	f;

	if (addr_parse_path(s, &a, &f) == -1) {
		CHECK(f.ex == 64 /* EX_USAGE */ || f.ex == 71 /* EX_OSERR */);
		CHECK(!listok || l->n != 1);
		return;
	}
	CHECK(a.spec != NULL);
	check_clean(a.spec);
	if (a.spec[0] != '\0') {
		CHECK(listok && l->n == 1);
		CHECK(strcmp(a.spec, l->v[0].spec) == 0);
	}
	(void)addr_check_path(a.spec, &f);
	addr_free(&a);
}

static void
check_unique(const struct addrlist *l)
{
	struct addrlist	u = { 0 };
	struct fail	f;
	size_t		i, n1;

	for (i = 0; i < l->n; i++)
		CHECK(addrlist_add_unique(&u, &l->v[i], &f) == 0);
	n1 = u.n;
	CHECK(n1 <= l->n && (l->n == 0 || n1 > 0));
	for (i = 0; i < l->n; i++)
		CHECK(addrlist_add_unique(&u, &l->v[i], &f) == 0);
	CHECK(u.n == n1);
	addrlist_free(&u);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addrlist	 l = { 0 };
	struct fail	 f;
	char		*s;
	int		 ok;

	/* a list appends: start with one address already there */
	CHECK(addr_parse_list("first@example.org", 17, &l, &f) == 0);
	CHECK(l.n == 1);
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	ok = addr_parse_list(s, size, &l, &f) == 0;
	if (!ok) {
		CHECK(l.n == 1);
		CHECK(f.ex == 65 /* EX_DATAERR */ || f.ex == 71);
		CHECK(strlen(f.msg) > 0 && strpbrk(f.msg, "\r\n") == NULL);
	} else
		check_list(s, size, &l, 1);
	check_unique(&l);
	/* the path parser stops at a NUL, as argv does */
	if (memchr(s, '\0', size) == NULL) {
		struct addrlist	 only = { 0 };
		int		 ok1 = addr_parse_list(s, size, &only, &f) == 0;

		check_path(s, &only, ok1);
		addrlist_free(&only);
	}
	addrlist_free(&l);
	free(s);
	return 0;
}
