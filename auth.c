/*
 * auth.c -- SASL PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login).
 */
#include <openssl/evp.h>

#include <string.h>
#include <sysexits.h>

#include "auth.h"
#include "util.h"

typedef int	(*auth_fn)(int, const struct buf *, const struct auth_cred *,
		    struct buf *, struct fail *);

struct mech {
	const char	*name;
	int		 autopick;	/* chosen by auth = auto */
	int		 initial;	/* has an initial response */
	auth_fn		 step;
};

/* RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd */
static int
auth_plain(int step, const struct buf *chal, const struct auth_cred *c,
    struct buf *out, struct fail *f)
{
	(void)chal;
	if (step > 1)
		return fail_set(f, EX_PROTOCOL, "unexpected AUTH PLAIN "
		    "challenge");
	if (buf_addc(out, '\0') == -1 || buf_adds(out, c->user) == -1 ||
	    buf_addc(out, '\0') == -1 || buf_adds(out, c->pass) == -1)
		return fail_nomem(f);
	return 1;
}

/* LOGIN: the server asks for the user name, then the password. */
static int
auth_login(int step, const struct buf *chal, const struct auth_cred *c,
    struct buf *out, struct fail *f)
{
	(void)chal;
	if (step == 0)
		return 0;
	if (step > 2)
		return fail_set(f, EX_PROTOCOL, "unexpected AUTH LOGIN "
		    "challenge");
	if (buf_adds(out, step == 1 ? c->user : c->pass) == -1)
		return fail_nomem(f);
	return 1;
}

/* Strongest first: auto picks the first one offered. */
static const struct mech mechs[] = {
	{ "PLAIN", 1, 1, auth_plain },
	{ "LOGIN", 1, 0, auth_login },
};

#define NMECH	(sizeof(mechs) / sizeof(mechs[0]))

/* Is name a word of the space-separated list (case-insensitive)? */
static int
auth_offered(const char *list, const char *name)
{
	size_t		 n = strlen(name), k;
	const char	*p = list;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		k = strcspn(p, " ");
		if (k == n && util_strncasecmp(p, name, n) == 0)
			return 1;
		p += k;
	}
	return 0;
}

int
auth_choose(const char *conf, const char *offered, struct fail *f)
{
	size_t	i;

	for (i = 0; i < NMECH; i++) {
		if (util_strcasecmp(conf, "auto") == 0 && !mechs[i].autopick)
			continue;
		if (util_strcasecmp(conf, "auto") != 0 &&
		    util_strcasecmp(conf, mechs[i].name) != 0)
			continue;
		if (auth_offered(offered, mechs[i].name))
			return (int)i;
		if (util_strcasecmp(conf, "auto") != 0)
			return fail_set(f, EX_NOPERM, "the server does not "
			    "offer AUTH %s (it offers: %s): set auth = auto",
			    mechs[i].name, offered);
	}
	if (util_strcasecmp(conf, "auto") != 0)
		return fail_set(f, EX_CONFIG, "auth = %s is not supported "
		    "yet: use auto, plain or login", conf);
	return fail_set(f, EX_NOPERM, "the server offers no AUTH mechanism "
	    "relaymail can use (it offers: %s)", offered);
}

const char *
auth_name(int m)
{
	return mechs[m].name;
}

int
auth_b64_encode(const unsigned char *p, size_t n, struct buf *out)
{
	if (n > 0x3fffffff || buf_reserve(out, 4 * ((n + 2) / 3)) == -1)
		return -1;
	out->len += (size_t)EVP_EncodeBlock((unsigned char *)out->p +
	    out->len, p, (int)n);
	out->p[out->len] = '\0';
	return 0;
}

int
auth_b64_decode(const char *s, struct buf *out)
{
	size_t	n = strlen(s), pad;
	int	k;

	if (n % 4 != 0 || n > 0x7fffffff || buf_reserve(out, n) == -1)
		return -1;
	if (n == 0)
		return 0;
	if ((k = EVP_DecodeBlock((unsigned char *)out->p + out->len,
	    (const unsigned char *)s, (int)n)) < 0)
		return -1;
	/* EVP_DecodeBlock counts the padding as octets */
	pad = (s[n - 1] == '=') + (s[n - 2] == '=');
	out->len += (size_t)k - pad;
	out->p[out->len] = '\0';
	return 0;
}

int
auth_step(int m, int step, const char *chal, const struct auth_cred *c,
    struct buf *out, struct fail *f)
{
	struct buf	dec = { 0 }, raw = { 0 };
	int		r = -1;

	if (step == 0 && !mechs[m].initial)
		return 0;
	if (chal != NULL && auth_b64_decode(chal, &dec) == -1) {
		fail_set(f, EX_PROTOCOL, "the server sent a malformed AUTH "
		    "challenge");
		goto out;
	}
	if ((r = mechs[m].step(step, &dec, c, &raw,
	    f)) == 1 && auth_b64_encode((unsigned char *)raw.p, raw.len,
	    out) == -1)
		r = fail_nomem(f);
out:
	buf_wipe(&dec);
	buf_wipe(&raw);
	return r;
}
