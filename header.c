/*
 * header.c -- MSA header fix-ups (RFC 6409 §8, SPEC §2.2) and -t.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "addr.h"
#include "header.h"
#include "mime.h"
#include "msg.h"
#include "util.h"

/* What a field's name means to the fix-ups. */
enum {
	H_DROP = 1 << 0,	/* never sent (Bcc: RFC 5322 §3.6.3) */
	H_QUALIFY = 1 << 1,	/* bare local names get @domain */
	H_RCPT = 1 << 2,	/* -t recipients */
	H_RRCPT = 1 << 3,	/* -t recipients when Resent- fields exist */
	H_FROM = 1 << 4,
	H_DATE = 1 << 5,
	H_MSGID = 1 << 6,
	H_DEST = 1 << 7,	/* To or Cc: a visible destination */
	H_RESENT = 1 << 8,
	H_REPLYTO = 1 << 9
};

struct hrule {
	const char	*name;
	int		 flags;
};

static const struct hrule hrules[] = {
	{ "Bcc", H_DROP | H_RCPT },
	{ "To", H_QUALIFY | H_RCPT | H_DEST },
	{ "Cc", H_QUALIFY | H_RCPT | H_DEST },
	{ "From", H_QUALIFY | H_FROM },
	{ "Sender", H_QUALIFY },
	{ "Reply-To", H_QUALIFY | H_REPLYTO },
	{ "Return-Path", H_DROP },	/* added by the final MTA, §4.4 */
	{ "Date", H_DATE },
	{ "Message-ID", H_MSGID },
	{ "Resent-To", H_QUALIFY | H_RRCPT | H_RESENT },
	{ "Resent-Cc", H_QUALIFY | H_RRCPT | H_RESENT },
	{ "Resent-Bcc", H_DROP | H_RRCPT | H_RESENT },
	{ "Resent-From", H_QUALIFY | H_RESENT },
	{ "Resent-Sender", H_QUALIFY | H_RESENT },
	{ "Resent-Date", H_RESENT },
	{ "Resent-Message-ID", H_RESENT },
};

static int
header_flags(const struct msg_field *fl)
{
	size_t	i;

	for (i = 0; i < sizeof(hrules) / sizeof(hrules[0]); i++)
		if (msg_field_is(fl, hrules[i].name))
			return hrules[i].flags;
	return 0;
}

/* Offset of a field's value: just past the colon. */
static size_t
header_valoff(const struct msg_field *fl)
{
	const char	*c = memchr(fl->text, ':', fl->len);

	return c != NULL ? (size_t)(c - fl->text) + 1 : fl->len;
}

/* RFC 5322 §3.2.3 atext plus space: what a phrase may hold unquoted. */
static int
header_is_atext(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == ' ' ||
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

int
header_phrase(const char *name, struct buf *out, struct fail *f)
{
	const char	*p;
	int		 plain = *name != '\0';

	if (mime_has_8bit(name, strlen(name)))
		return mime_encode_words(name, out) == -1 ? fail_nomem(f) : 0;
	for (p = name; *p != '\0'; p++)
		plain &= header_is_atext((unsigned char)*p);
	if (plain)
		return buf_adds(out, name) == -1 ? fail_nomem(f) : 0;
	if (buf_addc(out, '"') == -1)
		return fail_nomem(f);
	/* A control character (a CR or LF from NAME or GECOS would start a
	 * new header field) becomes a space: RFC 5322 §3.2.4 qtext. */
	for (p = name; *p != '\0'; p++)
		if (((*p == '"' || *p == '\\') && buf_addc(out, '\\') == -1) ||
		    buf_addc(out, (unsigned char)*p < 0x20 || *p == 0x7f ?
		    ' ' : *p) == -1)
			return fail_nomem(f);
	return buf_addc(out, '"') == -1 ? fail_nomem(f) : 0;
}

/*
 * Append one field to out, giving each bare address @domain in place
 * (SPEC §2.2).  An unparseable field goes out unchanged: guessing at it
 * could only make it worse.
 */
static int
header_put_qualified(const struct msg_field *fl, const char *domain,
    struct buf *out, struct fail *f)
{
	struct addrlist	 al = { 0 };
	struct fail	 ignore;
	size_t		 vo = header_valoff(fl), pos = vo, i;
	int		 ret = -1;

	if (domain == NULL ||
	    addr_parse_list(fl->text + vo, fl->len - vo, &al, &ignore) == -1) {
		addrlist_free(&al);
		if (buf_add(out, fl->text, fl->len) == -1)
			return fail_nomem(f);
		return buf_adds(out, "\r\n") == -1 ? fail_nomem(f) : 0;
	}
	if (buf_add(out, fl->text, vo) == -1)
		goto nomem;
	for (i = 0; i < al.n; i++) {
		if (al.v[i].has_domain)
			continue;
		if (buf_add(out, fl->text + pos, vo + al.v[i].local_end -
		    pos) == -1 || buf_addf(out, "@%s", domain) == -1)
			goto nomem;
		pos = vo + al.v[i].local_end;
	}
	if (buf_add(out, fl->text + pos, fl->len - pos) == -1 ||
	    buf_adds(out, "\r\n") == -1)
		goto nomem;
	ret = 0;
	goto out;
nomem:
	fail_nomem(f);
out:
	addrlist_free(&al);
	return ret;
}

/* -t: add the field's addresses to rcpts (RFC 5322 §3.6.3). */
static int
header_extract(const struct msg_field *fl, struct addrlist *rcpts,
    struct fail *f)
{
	struct addrlist	 al = { 0 };
	struct fail	 e;
	size_t		 vo = header_valoff(fl), i, nl;
	int		 ret = -1;

	if (addr_parse_list(fl->text + vo, fl->len - vo, &al, &e) == -1) {
		nl = msg_field_namelen(fl);
		fail_set(f, e.ex == EX_OSERR ? EX_OSERR : EX_DATAERR, "cannot "
		    "take recipients from the %.*s header: %s",
		    (int)(nl < 40 ? nl : 40), fl->text, e.msg);
		goto out;
	}
	for (i = 0; i < al.n; i++) {
		if (rcpts->n >= HEADER_RCPT_MAX) {
			fail_set(f, EX_DATAERR, "more than %d recipients in "
			    "the header: send the message in parts",
			    HEADER_RCPT_MAX);
			goto out;
		}
		if (addrlist_add_unique(rcpts, &al.v[i], f) == -1)
			goto out;
	}
	ret = 0;
out:
	addrlist_free(&al);
	return ret;
}

/* RFC 5322 §3.3 date-time in local time with a numeric offset. */
static int
header_date(long long now, struct buf *out)
{
	char		s[64];
	time_t		t = (time_t)now;
	struct tm	tm;

	localtime_r(&t, &tm);
	strftime(s, sizeof(s), "%a, %d %b %Y %H:%M:%S %z", &tm);
	return buf_adds(out, s);
}

static int
header_add_received(const struct header_ctx *c, struct buf *out)
{
	/* RFC 5321 §4.4: "by" clause; no "for", which would leak Bcc. */
	if (buf_addf(out, "Received: by %s (relaymail, from userid %lu);"
	    "\r\n\t", c->fqdn, c->uid) == -1 ||
	    header_date(c->now, out) == -1)
		return -1;
	return buf_adds(out, "\r\n");
}

static int
header_add_msgid(const struct header_ctx *c, struct buf *out)
{
	char		s[32];
	time_t		t = (time_t)c->now;
	struct tm	tm;
	size_t		i;

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y%m%d%H%M%S", &tm);
	if (buf_addf(out, "Message-ID: <%s.", s) == -1)
		return -1;
	for (i = 0; i < HEADER_RND_LEN; i++)
		if (buf_addf(out, "%02x", c->rnd[i]) == -1)
			return -1;
	return buf_addf(out, "@%s>\r\n", c->msgid_domain != NULL ?
	    c->msgid_domain : c->fqdn);
}

static int
header_add_from(const struct header_ctx *c, struct buf *out, struct fail *f)
{
	if (buf_adds(out, "From: ") == -1)
		return fail_nomem(f);
	if (c->fullname != NULL && *c->fullname != '\0') {
		if (header_phrase(c->fullname, out, f) == -1 ||
		    buf_adds(out, " ") == -1)
			return fail_nomem(f);
	}
	if (c->rewrite_from && c->from_addr != NULL)
		return buf_addf(out, "<%s>\r\n", c->from_addr) == -1 ?
		    fail_nomem(f) : 0;
	if (buf_addf(out, "<%s@%s>\r\n", c->user, c->domain) == -1)
		return fail_nomem(f);
	return 0;
}

/* OR of the flags of every field present. */
static int
header_present(const struct msg *m)
{
	size_t	i;
	int	all = 0;

	for (i = 0; i < m->hn; i++)
		all |= header_flags(&m->hv[i]);
	return all;
}

/*
 * rewrite_from = always, From with one mailbox: the address is replaced
 * where it stands, so the display name and comments stay as written
 * ("root (Cron Daemon)" -> "alerts@example.com (Cron Daemon)").
 */
static int
header_put_replaced(const struct msg_field *fl, const struct addr *a,
    const char *from, struct buf *out)
{
	size_t	vo = header_valoff(fl);
	int	angle = fl->text[vo + a->src_start] == '<';

	if (buf_add(out, fl->text, vo + a->src_start) == -1 ||
	    buf_addf(out, angle ? "<%s>" : "%s", from) == -1 ||
	    buf_add(out, fl->text + vo + a->src_end, fl->len - vo -
	    a->src_end) == -1)
		return -1;
	return buf_adds(out, "\r\n");
}

/* The original From, qualified, as a Reply-To field. */
static int
header_put_replyto(const struct msg_field *fl, const struct header_ctx *c,
    struct buf *out, struct fail *f)
{
	struct buf	q = { 0 };
	size_t		vo = header_valoff(fl);
	int		r;

	if ((r = header_put_qualified(fl, c->domain, &q, f)) == 0 &&
	    (buf_adds(out, "Reply-To:") == -1 ||
	    buf_add(out, q.p + vo, q.len - vo) == -1))
		r = fail_nomem(f);
	buf_free(&q);
	return r;
}

/* Is a (qualified with domain if bare) the address addr? */
static int
header_is_addr(const struct addr *a, const char *domain, const char *addr)
{
	size_t	n = strlen(a->spec);

	if (a->has_domain)
		return util_strcasecmp(a->spec, addr) == 0;
	return util_strncasecmp(a->spec, addr, n) == 0 && addr[n] == '@' &&
	    util_strcasecmp(addr + n + 1, domain) == 0;
}

/*
 * rewrite_from = always: the From address becomes the configured one,
 * the display name stays, and the original From moves to Reply-To
 * unless there is one (providers refuse a From that is not the
 * authenticated account; replies must still reach the sender).  A From
 * that already is the configured address is only qualified.
 */
static int
header_put_rewritten(const struct msg_field *fl, int present,
    const struct header_ctx *c, struct buf *out, struct fail *f)
{
	struct addrlist	 al = { 0 };
	struct fail	 ignore;
	size_t		 vo = header_valoff(fl);
	const struct addr *a;
	int		 r = -1;

	if (addr_parse_list(fl->text + vo, fl->len - vo, &al, &ignore) == -1 ||
	    al.n == 0) {
		addrlist_free(&al);
		return buf_addf(out, "From: <%s>\r\n", c->from_addr) == -1 ?
		    fail_nomem(f) : 0;
	}
	a = &al.v[0];
	if (al.n == 1 && header_is_addr(a, c->domain, c->from_addr)) {
		r = header_put_qualified(fl, c->domain, out, f);
		goto out;
	}
	if (al.n == 1 ? header_put_replaced(fl, a, c->from_addr, out) == -1 :
	    (buf_adds(out, "From: ") == -1 || (a->display != NULL &&
	    buf_addf(out, "%s ", a->display) == -1) ||
	    buf_addf(out, "<%s>\r\n", c->from_addr) == -1))
		goto nomem;
	r = (present & H_REPLYTO) ? 0 : header_put_replyto(fl, c, out, f);
	goto out;
nomem:
	fail_nomem(f);
out:
	addrlist_free(&al);
	return r;
}

static int
header_put_field(const struct msg_field *fl, int fl_flags, int present,
    const struct header_ctx *c, struct buf *out, struct fail *f)
{
	if (fl_flags & H_DROP)
		return 0;
	if ((fl_flags & H_FROM) && c->rewrite_from && c->from_addr != NULL)
		return header_put_rewritten(fl, present, c, out, f);
	if (fl_flags & H_QUALIFY)
		return header_put_qualified(fl, c->domain, out, f);
	if (buf_add(out, fl->text, fl->len) == -1 ||
	    buf_adds(out, "\r\n") == -1)
		return fail_nomem(f);
	return 0;
}

int
header_fixup(const struct msg *m, const struct header_ctx *c,
    struct buf *out, struct addrlist *rcpts, struct fail *f)
{
	int	present = header_present(m), fl, want;
	size_t	i;

	want = (present & H_RESENT) ? H_RRCPT : H_RCPT;
	if (header_add_received(c, out) == -1)
		return fail_nomem(f);
	for (i = 0; i < m->hn; i++) {
		fl = header_flags(&m->hv[i]);
		if (c->extract && (fl & want) &&
		    header_extract(&m->hv[i], rcpts, f) == -1)
			return -1;
		if (header_put_field(&m->hv[i], fl, present, c, out, f) == -1)
			return -1;
	}
	if (!(present & H_DATE) && (buf_adds(out, "Date: ") == -1 ||
	    header_date(c->now, out) == -1 || buf_adds(out, "\r\n") == -1))
		return fail_nomem(f);
	if (!(present & H_MSGID) && header_add_msgid(c, out) == -1)
		return fail_nomem(f);
	if (!(present & H_FROM) && header_add_from(c, out, f) == -1)
		return -1;
	/* Postfix's undisclosed_recipients_header: no visible To or Cc. */
	if (!(present & H_DEST) &&
	    buf_adds(out, "To: undisclosed-recipients:;\r\n") == -1)
		return fail_nomem(f);
	return buf_adds(out, "\r\n") == -1 ? fail_nomem(f) : 0;
}
