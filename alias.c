/*
 * alias.c -- aliases(5) and default_to.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "addr.h"
#include "alias.h"
#include "conf.h"
#include "log.h"
#include "util.h"

#define ALIAS_DEPTH	16	/* chains longer than this are loops */
#define ALIAS_FILE_MAX	(4 * 1024 * 1024)

static struct alias_entry *
alias_find(const struct alias_db *db, const char *name, size_t n)
{
	size_t	i;

	for (i = 0; i < db->n; i++)
		if (strlen(db->v[i].name) == n &&
		    util_strncasecmp(db->v[i].name, name, n) == 0)
			return &db->v[i];
	return NULL;
}

static struct alias_entry *
alias_new(struct alias_db *db, const char *name, size_t n, struct fail *f)
{
	struct alias_entry *nv, *e;
	size_t		 i;

	if (db->n == db->cap) {
		db->cap = db->cap ? db->cap * 2 : 16;
		if ((nv = reallocarray(db->v, db->cap, sizeof(*nv))) == NULL) {
			fail_nomem(f);
			return NULL;
		}
		db->v = nv;
	}
	e = &db->v[db->n];
	memset(e, 0, sizeof(*e));
	if ((e->name = util_strndup(name, n)) == NULL) {
		fail_nomem(f);
		return NULL;
	}
	for (i = 0; i < n; i++)
		e->name[i] = (char)tolower((unsigned char)e->name[i]);
	db->n++;
	return e;
}

static int
alias_add_target(struct alias_entry *e, const char *t, size_t n,
    struct fail *f)
{
	char	**nv;

	if ((nv = reallocarray(e->to, e->nto + 1, sizeof(*nv))) == NULL)
		return fail_nomem(f);
	e->to = nv;
	if ((e->to[e->nto] = util_strndup(t, n)) == NULL)
		return fail_nomem(f);
	e->nto++;
	return 0;
}

/* Split a value at commas outside double quotes (aliases(5)). */
static int
alias_targets(struct alias_entry *e, const char *v, size_t n, struct fail *f)
{
	size_t	i = 0, s, end;
	int	q;

	while (i < n) {
		while (i < n && (isspace((unsigned char)v[i]) || v[i] == ','))
			i++;
		for (s = i, q = 0; i < n && (q || v[i] != ','); i++)
			if (v[i] == '"')
				q = !q;
		for (end = i; end > s && isspace((unsigned char)v[end - 1]);)
			end--;
		if (end > s && alias_add_target(e, v + s, end - s, f) == -1)
			return -1;
	}
	return 0;
}

/* One logical entry "name: a, b" (continuations already joined). */
static int
alias_entry_line(struct alias_db *db, const char *l, size_t n,
    const char *file, int line, struct fail *f)
{
	const char		*c = memchr(l, ':', n);
	size_t			 k;
	struct alias_entry	*e;

	if (c == NULL)
		return fail_set(f, EX_CONFIG, "%s:%d: expected \"name: "
		    "address, ...\"", file, line);
	for (k = (size_t)(c - l); k > 0 && isspace((unsigned char)l[k - 1]);)
		k--;
	if (k == 0)
		return fail_set(f, EX_CONFIG, "%s:%d: empty alias name",
		    file, line);
	if (alias_find(db, l, k) != NULL)
		return 0;	/* the config's entry, or an earlier line, wins */
	if ((e = alias_new(db, l, k, f)) == NULL)
		return -1;
	return alias_targets(e, c + 1, n - (size_t)(c + 1 - l), f);
}

int
alias_parse(struct alias_db *db, const char *text, size_t len,
    const char *file, struct fail *f)
{
	struct buf	 ent = { 0 };
	const char	*p = text, *end = text + len, *nl;
	int		 line = 0, start = 0, r = 0;

	for (; r == 0 && p <= end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		line++;
		if (p < nl && *p == '#')
			continue;
		/* a line starting with white space continues the entry */
		if (p < nl && (*p == ' ' || *p == '\t') && ent.len > 0) {
			r = buf_add(&ent, p, (size_t)(nl - p));
			continue;
		}
		if (ent.len > 0)
			r = alias_entry_line(db, ent.p, ent.len, file, start, f);
		buf_reset(&ent);
		start = line;
		while (p < nl && isspace((unsigned char)*p))
			p++;
		if (r == 0 && p < nl && buf_add(&ent, p, (size_t)(nl - p)) == -1)
			r = fail_nomem(f);
	}
	if (r == 0 && ent.len > 0)
		r = alias_entry_line(db, ent.p, ent.len, file, start, f);
	buf_free(&ent);
	return r;
}

static int
alias_read_file(struct alias_db *db, const char *path, struct fail *f)
{
	FILE		*fp;
	struct buf	 b = { 0 };
	char		 chunk[8192];
	size_t		 n;
	int		 r = -1;

	if ((fp = fopen(path, "re")) == NULL)
		return fail_set(f, EX_CONFIG, "aliases file %s: %s", path,
		    strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (b.len + n > ALIAS_FILE_MAX) {
			fail_set(f, EX_CONFIG, "aliases file %s: larger than "
			    "%d octets", path, ALIAS_FILE_MAX);
			goto out;
		}
		if (buf_add(&b, chunk, n) == -1) {
			fail_nomem(f);
			goto out;
		}
	}
	r = alias_parse(db, b.p != NULL ? b.p : "", b.len, path, f);
out:
	fclose(fp);
	buf_free(&b);
	return r;
}

int
alias_load(struct alias_db *db, const struct conf *c, const char *domain,
    const char *fqdn, struct fail *f)
{
	struct alias_entry *e;
	size_t		 i, j;

	memset(db, 0, sizeof(*db));
	db->default_to = c->default_to;
	db->domain = domain;
	db->fqdn = fqdn;
	for (i = 0; i < c->nalias; i++) {
		if ((e = alias_new(db, c->alias[i].name,
		    strlen(c->alias[i].name), f)) == NULL)
			return -1;
		for (j = 0; j < c->alias[i].nto; j++)
			if (alias_targets(e, c->alias[i].to[j],
			    strlen(c->alias[i].to[j]), f) == -1)
				return -1;
	}
	if (c->aliases != NULL && *c->aliases != '\0')
		return alias_read_file(db, c->aliases, f);
	return 0;
}

int
alias_is_local(const struct alias_db *db, const char *spec)
{
	const char	*at = strrchr(spec, '@');
	size_t		 n;

	if (at == NULL)
		return 1;
	at++;
	if (util_strcasecmp(at, "localhost") == 0 ||
	    util_strcasecmp(at, "localhost.localdomain") == 0)
		return 1;
	if (db->fqdn == NULL)
		return 0;
	/* this host's full name, or its first label */
	n = strcspn(db->fqdn, ".");
	return util_strcasecmp(at, db->fqdn) == 0 ||
	    (strlen(at) == n && util_strncasecmp(at, db->fqdn, n) == 0);
}

/* Add spec; with qualify, its local part (the first n octets) @domain:
 * a local name never goes out bare or @localhost (SPEC §2.2). */
static int
alias_add(struct addrlist *out, const char *spec, size_t n, int qualify,
    const char *domain, struct fail *f)
{
	struct addr	a = { 0 };
	int		r;

	if (qualify) {
		if (asprintf(&a.spec, "%.*s@%s", (int)n, spec, domain) == -1)
			return fail_nomem(f);
	} else if ((a.spec = strdup(spec)) == NULL)
		return fail_nomem(f);
	a.has_domain = 1;
	r = addrlist_add_unique(out, &a, f);
	free(a.spec);
	return r;
}

static int	alias_walk(const struct alias_db *, const char *, int,
		    const char **, struct addrlist *, struct fail *);

/*
 * A program, file or :include: target (aliases(5)): relaymail does no
 * local delivery, so it warns and skips them.  1 if refused.
 */
static int
alias_refused(const char *name, const char *t)
{
	if (*t == '|' || *t == '/' || util_strncasecmp(t, ":include:", 9) == 0
	    || (*t == '"' && (t[1] == '|' || t[1] == '/'))) {
		log_warn("alias %s: \"%.60s\" refused: relaymail delivers only "
		    "to addresses", name, t);
		return 1;
	}
	return 0;
}

/* Parse a target's address list; "\root" (sendmail: no further
 * aliasing) is read as root. */
static int
alias_parse_target(const char *name, const char *t, struct addrlist *al,
    struct fail *f)
{
	if (*t == '\\')
		t++;
	if (addr_parse_list(t, strlen(t), al, f) == -1)
		return fail_set(f, EX_CONFIG, "alias %s: bad target \"%.60s\"",
		    name, t);
	return 0;
}

/* A target: refused kinds warn and are skipped (no local delivery). */
static int
alias_target(const struct alias_db *db, const char *t, int depth,
    const char **chain, struct addrlist *out, struct fail *f)
{
	struct addrlist	 al = { 0 };
	size_t		 i;
	int		 r = 0;

	if (alias_refused(chain[depth - 1], t))
		return 0;
	if (alias_parse_target(chain[depth - 1], t, &al, f) == -1)
		return -1;
	for (i = 0; r == 0 && i < al.n; i++)
		r = alias_walk(db, al.v[i].spec, depth, chain, out, f);
	addrlist_free(&al);
	return r;
}

/* Follow spec through the aliases; chain holds the names on the way. */
static int
alias_walk(const struct alias_db *db, const char *spec, int depth,
    const char **chain, struct addrlist *out, struct fail *f)
{
	const struct alias_entry *e;
	size_t	n = strcspn(spec, "@"), i;
	int	d;

	if (!alias_is_local(db, spec))
		return alias_add(out, spec, 0, 0, NULL, f);
	e = alias_find(db, spec, n);
	for (d = 0; e != NULL && d < depth; d++)
		if (chain[d] == e->name) {
			log_warn("alias loop through %s: delivering to %s",
			    e->name, db->default_to != NULL ? db->default_to :
			    e->name);
			e = NULL;
		}
	if (e != NULL && depth < ALIAS_DEPTH) {
		chain[depth] = e->name;
		for (i = 0; i < e->nto; i++)
			if (alias_target(db, e->to[i], depth + 1, chain, out,
			    f) == -1)
				return -1;
		return 0;
	}
	if (db->default_to != NULL)
		return alias_add(out, db->default_to,
		    strcspn(db->default_to, "@"),
		    strchr(db->default_to, '@') == NULL, db->domain, f);
	return alias_add(out, spec, n, 1, db->domain, f);
}

int
alias_resolve(const struct alias_db *db, const char *spec,
    struct addrlist *out, struct fail *f)
{
	const char	*chain[ALIAS_DEPTH + 1];

	return alias_walk(db, spec, 0, chain, out, f);
}

int
alias_check(const struct alias_db *db, struct fail *f)
{
	struct addrlist	 al = { 0 };
	size_t		 i, j;
	int		 r = 0;

	for (i = 0; r == 0 && i < db->n; i++)
		for (j = 0; r == 0 && j < db->v[i].nto; j++) {
			if (!alias_refused(db->v[i].name, db->v[i].to[j]))
				r = alias_parse_target(db->v[i].name,
				    db->v[i].to[j], &al, f);
			addrlist_free(&al);
		}
	return r;
}

void
alias_free(struct alias_db *db)
{
	size_t	i, j;

	for (i = 0; i < db->n; i++) {
		for (j = 0; j < db->v[i].nto; j++)
			free(db->v[i].to[j]);
		free(db->v[i].to);
		free(db->v[i].name);
	}
	free(db->v);
	memset(db, 0, sizeof(*db));
}
