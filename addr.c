/*
 * addr.c -- RFC 5322 address lists and RFC 5321 paths.
 *
 * A tokenizer skips CFWS (RFC 5322 §3.2.2) and yields atoms, quoted
 * strings, domain literals and single specials; a small LL(1) parser on
 * top of it reads the address-list of §3.4 with the obsolete forms of
 * §4.4.  Nothing recurses on the input: comments are skipped with a depth
 * counter, and groups nest at most once, so hostile input costs O(len)
 * time and memory.  The input is not NUL-terminated and is never changed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"
#include "addr.h"

#define ADDR_MAX_DEPTH	64	/* comment nesting we accept */
#define ADDR_QUOTE_MAX	80	/* source bytes quoted in a message */
#define ADDR_PATH_MAX	256	/* RFC 5321 §4.5.3.1.3, with the brackets */

/* Token types besides the single specials, which stand for themselves. */
enum {
	T_END = 256,
	T_ATOM,
	T_QSTR,
	T_DLIT
};

struct tok {
	int	type;
	size_t	start;		/* source span */
	size_t	end;
};

/* A run of words and dots: a display-name or a local-part. */
struct run {
	size_t	start;		/* first token, for a display-name */
	size_t	end;		/* just past the last token */
	size_t	toks;
	int	dotted;		/* word *("." word): usable as a local-part */
};

struct pstate {
	const char	*s;
	size_t		 len;
	size_t		 pos;	/* scan offset */
	size_t		 elem;	/* start of the list element, for messages */
	struct tok	 cur;	/* the lookahead token */
	size_t		 last_end; /* end of the token before cur */
	struct buf	 lp;	/* spec being built */
	struct buf	 tmp;	/* display-name being copied */
	struct fail	*f;
	int		 ex;	/* class of syntax errors */
};

static int	parse_items(struct pstate *, struct addrlist *, int);

static int
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Controls other than HTAB, CR and LF, which are (folding) white space. */
static int
is_ctl(unsigned char c)
{
	return (c < 0x20 && !is_wsp(c) && c != '\r' && c != '\n') ||
	    c == 0x7f;
}

/* atext (RFC 5322 §3.2.3), plus 8-bit bytes (RFC 6532 §3.2). */
static int
is_atext(unsigned char c)
{
	static const char	 sym[] = "!#$%&'*+-/=?^_`{|}~";

	if (c >= 0x80 || (c >= '0' && c <= '9') ||
	    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return 1;
	return c != '\0' && memchr(sym, c, sizeof(sym) - 1) != NULL;
}

/*
 * Record a failure naming at most ADDR_QUOTE_MAX bytes of s[0..n),
 * escaped so that no control or 8-bit byte reaches a terminal or a log.
 */
static int
fail_text(struct fail *f, int ex, const char *why, const char *s, size_t n)
{
	char	q[4 * ADDR_QUOTE_MAX + sizeof("...")];
	size_t	i, o = 0;

	for (i = 0; i < n && i < ADDR_QUOTE_MAX; i++) {
		unsigned char	c = s[i];

		if (c == '"' || c == '\\')
			o += snprintf(q + o, sizeof(q) - o, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			o += snprintf(q + o, sizeof(q) - o, "\\x%02x", c);
		else
			q[o++] = c;
	}
	(void)snprintf(q + o, sizeof(q) - o, "%s", n > i ? "..." : "");
	return fail_set(f, ex, "address \"%s\": %s", q, why);
}

/* A syntax error: name the list element being parsed. */
static int
perr(struct pstate *ps, const char *why)
{
	size_t	i = ps->elem;

	while (i < ps->len && (is_wsp(ps->s[i]) || ps->s[i] == '\r' ||
	    ps->s[i] == '\n'))
		i++;
	return fail_text(ps->f, ps->ex, why, ps->s + i, ps->len - i);
}

/*
 * One unit inside a comment, quoted string or domain literal (§3.2.1,
 * §3.2.2, §3.2.4, §3.4.1).  A quoted-pair must escape a visible, blank
 * or 8-bit byte, and a line break must be a fold (§2.2.3), so that
 * unfolding can never change what the text means.
 */
static int
scan_inner(struct pstate *ps, const char *unbalanced)
{
	unsigned char	c = ps->s[ps->pos];

	if (c == '\\') {
		if (++ps->pos == ps->len)
			return perr(ps, unbalanced);
		c = ps->s[ps->pos];
		if (c == '\r' || c == '\n' || is_ctl(c))
			return perr(ps, "control character after '\\'");
	} else if (c == '\r' || c == '\n') {
		while (ps->pos < ps->len &&
		    (ps->s[ps->pos] == '\r' || ps->s[ps->pos] == '\n'))
			ps->pos++;
		if (ps->pos == ps->len || !is_wsp(ps->s[ps->pos]))
			return perr(ps, "line break in quoted text");
		return 0;
	} else if (is_ctl(c))
		return perr(ps, c == '\0' ? "NUL byte" : "control character");
	ps->pos++;
	return 0;
}

/* A comment (§3.2.2), nested up to ADDR_MAX_DEPTH, without recursion. */
static int
skip_comment(struct pstate *ps)
{
	size_t	depth = 0;

	while (ps->pos < ps->len) {
		if (ps->s[ps->pos] == '(') {
			if (++depth > ADDR_MAX_DEPTH)
				return perr(ps, "comments nested too deeply");
			ps->pos++;
		} else if (ps->s[ps->pos] == ')') {
			ps->pos++;
			if (--depth == 0)
				return 0;
		} else if (scan_inner(ps, "unbalanced '('") == -1)
			return -1;
	}
	return perr(ps, "unbalanced '('");
}

/*
 * CFWS (§3.2.2).  Outside quotes a line break counts as white space even
 * when no blank follows, so "a,\nb" from a command line is two addresses.
 */
static int
skip_cfws(struct pstate *ps)
{
	while (ps->pos < ps->len) {
		unsigned char	c = ps->s[ps->pos];

		if (c == '(') {
			if (skip_comment(ps) == -1)
				return -1;
		} else if (is_wsp(c) || c == '\r' || c == '\n')
			ps->pos++;
		else
			break;
	}
	return 0;
}

/* A quoted-string (§3.2.4) or domain-literal (§3.4.1) up to close. */
static int
scan_quoted(struct pstate *ps, char close, const char *unbalanced)
{
	ps->pos++;
	while (ps->pos < ps->len) {
		if (ps->s[ps->pos] == close) {
			ps->pos++;
			return 0;
		}
		if (scan_inner(ps, unbalanced) == -1)
			return -1;
	}
	return perr(ps, unbalanced);
}

static const char *
bad_char(unsigned char c)
{
	if (c == '\0')
		return "NUL byte";
	if (c == ')')
		return "unbalanced ')'";
	if (is_ctl(c))
		return "control character";
	return "unexpected character";
}

/* Read the next token into ps->cur, skipping CFWS before it. */
static int
tok_advance(struct pstate *ps)
{
	unsigned char	c;

	ps->last_end = ps->cur.end;
	if (skip_cfws(ps) == -1)
		return -1;
	ps->cur.start = ps->pos;
	if (ps->pos == ps->len)
		ps->cur.type = T_END;
	else if (is_atext(c = ps->s[ps->pos])) {
		while (ps->pos < ps->len && is_atext(ps->s[ps->pos]))
			ps->pos++;
		ps->cur.type = T_ATOM;
	} else if (c == '"') {
		if (scan_quoted(ps, '"', "unbalanced '\"'") == -1)
			return -1;
		ps->cur.type = T_QSTR;
	} else if (c == '[') {
		if (scan_quoted(ps, ']', "unbalanced '['") == -1)
			return -1;
		ps->cur.type = T_DLIT;
	} else if (memchr("<>:;@,.", c, 7) != NULL) {
		ps->pos++;
		ps->cur.type = c;
	} else
		return perr(ps, bad_char(c));
	ps->cur.end = ps->pos;
	return 0;
}

/*
 * Copy source text, unfolding (§2.2.3): a line break before a blank goes,
 * any other becomes one space.  With drop_wsp the blanks go too (FWS in
 * a domain-literal is not part of the domain); a quoted-pair is copied
 * whole so that dropping never exposes its backslash.
 */
static int
copy_span(struct buf *b, const char *s, size_t i, size_t end, int drop_wsp)
{
	size_t	j, n;

	while (i < end) {
		if (s[i] == '\r' || s[i] == '\n') {
			for (j = i; j < end && (s[j] == '\r' || s[j] == '\n');)
				j++;
			if (!drop_wsp && (j == end || !is_wsp(s[j])) &&
			    buf_addc(b, ' ') == -1)
				return -1;
			i = j;
			continue;
		}
		n = s[i] == '\\' && i + 1 < end ? 2 : 1;
		if (!(drop_wsp && is_wsp(s[i])) && buf_add(b, s + i, n) == -1)
			return -1;
		i += n;
	}
	return 0;
}

/* Append the current token to the spec being built, CFWS removed. */
static int
copy_tok(struct pstate *ps)
{
	const struct tok	*t = &ps->cur;

	if (t->type == T_QSTR || t->type == T_DLIT) {
		if (copy_span(&ps->lp, ps->s, t->start, t->end,
		    t->type == T_DLIT) == -1)
			return fail_nomem(ps->f);
	} else if (buf_add(&ps->lp, ps->s + t->start, t->end - t->start) == -1)
		return fail_nomem(ps->f);
	return 0;
}

/*
 * Words and dots: a phrase (§3.2.5, obs-phrase §4.1) or a local-part
 * (§3.4.1, obs-local-part §4.4).  Which one it was is known only from
 * the token after it, so the run is copied into ps->lp as a local-part
 * and its source span kept for a display-name.
 */
static int
scan_phrase(struct pstate *ps, struct run *r)
{
	int	want_word = 1, word;

	memset(r, 0, sizeof(*r));
	r->start = r->end = ps->cur.start;
	r->dotted = 1;
	buf_reset(&ps->lp);
	while (ps->cur.type == T_ATOM || ps->cur.type == T_QSTR ||
	    ps->cur.type == '.') {
		word = ps->cur.type != '.';
		if (word != want_word)
			r->dotted = 0;
		want_word = !word;
		r->toks++;
		r->end = ps->cur.end;
		if (copy_tok(ps) == -1 || tok_advance(ps) == -1)
			return -1;
	}
	if (want_word)
		r->dotted = 0;
	return 0;
}

/* A local-part must be words joined by single dots, and not empty. */
static int
check_local(struct pstate *ps, const struct run *r, const char *bad)
{
	if (r->toks == 0 ||
	    (ps->lp.len == 2 && memcmp(ps->lp.p, "\"\"", 2) == 0))
		return perr(ps, "empty local part");
	if (!r->dotted)
		return perr(ps, bad);
	return 0;
}

/*
 * domain = dot-atom / domain-literal / obs-domain (§3.4.1, §4.4); CFWS
 * around the dots is already gone.  Appended to ps->lp when keep is set.
 */
static int
parse_domain(struct pstate *ps, int keep)
{
	if (ps->cur.type == T_DLIT) {
		if (keep && copy_tok(ps) == -1)
			return -1;
		return tok_advance(ps);
	}
	for (;;) {
		if (ps->cur.type != T_ATOM)
			return perr(ps, "missing or malformed domain");
		if ((keep && copy_tok(ps) == -1) || tok_advance(ps) == -1)
			return -1;
		if (ps->cur.type != '.')
			return 0;
		if (keep && buf_addc(&ps->lp, '.') == -1)
			return fail_nomem(ps->f);
		if (tok_advance(ps) == -1)
			return -1;
	}
}

/* An optional "@" domain after a local-part: 1 if present, 0, or -1. */
static int
parse_at_domain(struct pstate *ps)
{
	if (ps->cur.type != '@')
		return 0;
	if (buf_addc(&ps->lp, '@') == -1)
		return fail_nomem(ps->f);
	if (tok_advance(ps) == -1 || parse_domain(ps, 1) == -1)
		return -1;
	return 1;
}

/* obs-route (§4.4): *("," / "@" domain) ":", parsed and dropped. */
static int
skip_route(struct pstate *ps)
{
	int	at;

	while (ps->cur.type == ',' || ps->cur.type == '@') {
		at = ps->cur.type == '@';
		if (tok_advance(ps) == -1 || (at && parse_domain(ps, 0) == -1))
			return -1;
	}
	if (ps->cur.type != ':')
		return perr(ps, ps->cur.type == '>' ? "empty local part" :
		    "malformed route");
	return tok_advance(ps);
}

static int
addrlist_grow(struct addrlist *l)
{
	struct addr	*v;
	size_t		 cap;

	if (l->n < l->cap)
		return 0;
	if (l->cap > SIZE_MAX / 2 / sizeof(*v))
		return -1;
	cap = l->cap != 0 ? l->cap * 2 : 8;
	if ((v = realloc(l->v, cap * sizeof(*v))) == NULL)
		return -1;
	l->v = v;
	l->cap = cap;
	return 0;
}

/* Move *a to the end of l; on failure *a is released. */
static int
addrlist_push(struct addrlist *l, struct addr *a, struct fail *f)
{
	if (addrlist_grow(l) == -1) {
		addr_free(a);
		return fail_nomem(f);
	}
	l->v[l->n++] = *a;
	return 0;
}

/* Append the mailbox in ps->lp, with the display-name disp if any;
 * src is the source span of the address (or angle-addr). */
static int
push_addr(struct pstate *ps, struct addrlist *out, const struct run *disp,
    size_t local_end, const struct tok *src, int has_domain)
{
	struct addr	a;

	memset(&a, 0, sizeof(a));
	a.local_end = local_end;
	a.src_start = src->start;
	a.src_end = src->end;
	a.has_domain = has_domain;
	if ((a.spec = util_strndup(ps->lp.p, ps->lp.len)) == NULL)
		return fail_nomem(ps->f);
	if (disp != NULL && disp->toks > 0) {
		buf_reset(&ps->tmp);
		if (copy_span(&ps->tmp, ps->s, disp->start, disp->end, 0) ==
		    -1 || (a.display = util_strndup(ps->tmp.p,
		    ps->tmp.len)) == NULL) {
			addr_free(&a);
			return fail_nomem(ps->f);
		}
	}
	return addrlist_push(out, &a, ps->f);
}

/* angle-addr / obs-angle-addr (§3.4, §4.4); ps->cur is the "<". */
static int
parse_angle(struct pstate *ps, const struct run *disp, struct addrlist *out)
{
	struct run	r;
	struct tok	src = ps->cur;
	int		dom;

	if (tok_advance(ps) == -1)
		return -1;
	if (ps->cur.type == T_END)
		return perr(ps, "unbalanced '<'");
	if (ps->cur.type == '>')
		return perr(ps, "no address in <>");
	if ((ps->cur.type == '@' || ps->cur.type == ',') &&
	    skip_route(ps) == -1)
		return -1;
	if (scan_phrase(ps, &r) == -1 ||
	    check_local(ps, &r, "malformed address in <>") == -1 ||
	    (dom = parse_at_domain(ps)) == -1)
		return -1;
	if (ps->cur.type != '>')
		return perr(ps, ps->cur.type == T_END ? "unbalanced '<'" :
		    "malformed address in <>");
	src.end = ps->cur.end;
	if (tok_advance(ps) == -1)
		return -1;
	return push_addr(ps, out, disp, r.end, &src, dom);
}

/*
 * A bare addr-spec; the domain may be missing ("root"), which callers
 * qualify later.  The run r, already in ps->lp, is its local-part.
 */
static int
parse_bare(struct pstate *ps, const struct run *r, struct addrlist *out)
{
	struct tok	src;
	int		dom;

	if (check_local(ps, r, "not an address (a name needs <...>)") == -1 ||
	    (dom = parse_at_domain(ps)) == -1)
		return -1;
	src.start = r->start;
	src.end = dom ? ps->last_end : r->end;
	return push_addr(ps, out, NULL, r->end, &src, dom);
}

/* group (§3.4): members are appended; a missing final ";" is tolerated. */
static int
parse_group(struct pstate *ps, const struct run *r, struct addrlist *out,
    int in_group)
{
	if (in_group)
		return perr(ps, "group inside a group");
	if (r->toks == 0)
		return perr(ps, "group without a name");
	if (tok_advance(ps) == -1 || parse_items(ps, out, 1) == -1)
		return -1;
	return ps->cur.type == ';' ? tok_advance(ps) : 0;
}

/* A token that cannot come next: name the usual mistakes. */
static int
unexpected(struct pstate *ps, const char *why)
{
	if (ps->cur.type == ';')
		why = "';' outside a group";
	else if (ps->cur.type == '>')
		why = "unbalanced '>'";
	return perr(ps, why);
}

/* One element of an address-list or group-list; it may be empty (§4.4). */
static int
parse_element(struct pstate *ps, struct addrlist *out, int in_group)
{
	struct run	r;
	int		t;

	if (scan_phrase(ps, &r) == -1)
		return -1;
	t = ps->cur.type;
	if (t == '<')
		return parse_angle(ps, &r, out);
	if (t == ':')
		return parse_group(ps, &r, out, in_group);
	if (t == ',' || (t == ';' && in_group) || t == T_END)
		return r.toks == 0 ? 0 : parse_bare(ps, &r, out);
	if (t == '@')
		return parse_bare(ps, &r, out);
	return unexpected(ps, "not an address");
}

/* address-list / obs-addr-list, or a group's list when in_group. */
static int
parse_items(struct pstate *ps, struct addrlist *out, int in_group)
{
	for (;;) {
		if (parse_element(ps, out, in_group) == -1)
			return -1;
		if (ps->cur.type == T_END ||
		    (in_group && ps->cur.type == ';'))
			return 0;
		if (ps->cur.type != ',')
			return unexpected(ps, "expected ',' between addresses");
		ps->elem = ps->cur.end;
		if (tok_advance(ps) == -1)
			return -1;
	}
}

/* Parse s[0..len) as a whole list; on failure out is as it was. */
static int
parse_list(const char *s, size_t len, struct addrlist *out, struct fail *f,
    int ex)
{
	struct pstate	ps;
	size_t		n0 = out->n;
	int		rc;

	memset(&ps, 0, sizeof(ps));
	ps.s = s;
	ps.len = len;
	ps.f = f;
	ps.ex = ex;
	rc = tok_advance(&ps) == -1 ? -1 : parse_items(&ps, out, 0);
	buf_free(&ps.lp);
	buf_free(&ps.tmp);
	while (rc == -1 && out->n > n0)
		addr_free(&out->v[--out->n]);
	return rc;
}

int
addr_parse_list(const char *s, size_t len, struct addrlist *out,
    struct fail *f)
{
	return parse_list(s, len, out, f, EX_DATAERR);
}

/* "", "<>" and the same with CFWS around: the null reverse-path. */
static int
path_is_null(const char *s, size_t len)
{
	struct pstate	ps;
	struct fail	scratch;

	memset(&ps, 0, sizeof(ps));
	ps.s = s;
	ps.len = len;
	ps.f = &scratch;
	if (tok_advance(&ps) == -1)
		return 0;
	if (ps.cur.type == '<' && (tok_advance(&ps) == -1 ||
	    ps.cur.type != '>' || tok_advance(&ps) == -1))
		return 0;
	return ps.cur.type == T_END;
}

int
addr_parse_path(const char *s, struct addr *a, struct fail *f)
{
	struct addrlist	l = { NULL, 0, 0 };
	size_t		n, len = strlen(s);

	memset(a, 0, sizeof(*a));
	if (path_is_null(s, len)) {
		if ((a->spec = util_strndup("", 0)) == NULL)
			return fail_nomem(f);
		return 0;
	}
	if (parse_list(s, len, &l, f, EX_USAGE) == -1) {
		addrlist_free(&l);
		return -1;
	}
	if ((n = l.n) != 1) {
		addrlist_free(&l);
		return fail_text(f, EX_USAGE, n == 0 ? "no mailbox" :
		    "more than one address", s, len);
	}
	*a = l.v[0];
	free(l.v);
	return 0;
}

/* Bytes that can never go into a path, quoted or not (RFC 5321 §4.1.2). */
static int
path_bad(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

int
addr_check_path(const char *spec, struct fail *f)
{
	size_t	i, n = strlen(spec);
	int	quoted = 0;

	if (n + 2 > ADDR_PATH_MAX)
		return fail_text(f, EX_DATAERR,
		    "longer than 256 octets with the brackets", spec, n);
	for (i = 0; i < n; i++) {
		if (quoted && spec[i] == '\\' && i + 1 < n)
			i++;
		else if (spec[i] == '"')
			quoted = !quoted;
		else if (spec[i] == ' ' && !quoted)
			return fail_text(f, EX_DATAERR, "space outside quotes",
			    spec, n);
		if (path_bad(spec[i]))
			return fail_text(f, EX_DATAERR, "control character",
			    spec, n);
	}
	return 0;
}

/* The "@" between local-part and domain: the first one outside quotes. */
static const char *
spec_at(const char *spec)
{
	int	quoted = 0;

	for (; *spec != '\0'; spec++) {
		if (quoted && *spec == '\\' && spec[1] != '\0')
			spec++;
		else if (*spec == '"')
			quoted = !quoted;
		else if (*spec == '@' && !quoted)
			return spec;
	}
	return NULL;
}

/* Local parts may be case-sensitive (RFC 5321 §2.4), domains are not. */
static int
spec_equal(const char *a, const char *b)
{
	const char	*at_a = spec_at(a), *at_b = spec_at(b);
	size_t		 la = at_a != NULL ? (size_t)(at_a - a) : strlen(a);
	size_t		 lb = at_b != NULL ? (size_t)(at_b - b) : strlen(b);

	if (la != lb || memcmp(a, b, la) != 0)
		return 0;
	if (at_a == NULL || at_b == NULL)
		return at_a == at_b;
	return util_strcasecmp(at_a + 1, at_b + 1) == 0;
}

int
addrlist_add_unique(struct addrlist *out, const struct addr *a,
    struct fail *f)
{
	struct addr	c;
	size_t		i;

	for (i = 0; i < out->n; i++)
		if (spec_equal(out->v[i].spec, a->spec))
			return 0;
	c = *a;
	c.display = NULL;
	if ((c.spec = util_strndup(a->spec, strlen(a->spec))) == NULL ||
	    (a->display != NULL && (c.display = util_strndup(a->display,
	    strlen(a->display))) == NULL)) {
		addr_free(&c);
		return fail_nomem(f);
	}
	return addrlist_push(out, &c, f);
}

void
addr_free(struct addr *a)
{
	free(a->spec);
	free(a->display);
	a->spec = NULL;
	a->display = NULL;
}

void
addrlist_free(struct addrlist *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		addr_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}
