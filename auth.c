/*
 * auth.c -- SASL mechanisms: SCRAM-SHA-256 (RFC 5802, RFC 7677), PLAIN
 * (RFC 4616), LOGIN (draft-murchison-sasl-login), CRAM-MD5 (RFC 2195),
 * XOAUTH2 (Google's) and OAUTHBEARER (RFC 7628).
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "auth.h"
#include "util.h"

#define SCRAM_MAX_ITER	1000000	/* bound a hostile server's cost */

/* Raw response for one step; 1 with a response, 0 for none. */
typedef int	(*auth_fn)(struct auth_state *, const struct buf *,
		    struct buf *, struct fail *);

struct mech {
	const char	*name;
	int		 autopick;	/* chosen by auth = auto */
	int		 oauth;		/* token from password_command */
	auth_fn		 step;
};

static int
auth_toomany(const char *name, struct fail *f)
{
	return fail_set(f, EX_PROTOCOL, "unexpected AUTH %s challenge", name);
}

/* RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd */
static int
auth_plain(struct auth_state *st, const struct buf *chal, struct buf *out,
    struct fail *f)
{
	(void)chal;
	if (st->step > 1)
		return auth_toomany("PLAIN", f);
	if (buf_addc(out, '\0') == -1 || buf_adds(out, st->cred->user) == -1 ||
	    buf_addc(out, '\0') == -1 || buf_adds(out, st->cred->pass) == -1)
		return fail_nomem(f);
	return 1;
}

/* LOGIN: no initial response; the user name, then the password. */
static int
auth_login(struct auth_state *st, const struct buf *chal, struct buf *out,
    struct fail *f)
{
	(void)chal;
	if (st->step == 0)
		return 0;
	if (st->step > 2)
		return auth_toomany("LOGIN", f);
	if (buf_adds(out, st->step == 1 ? st->cred->user : st->cred->pass)
	    == -1)
		return fail_nomem(f);
	return 1;
}

/* RFC 2195: user SP hex(HMAC-MD5(password, challenge)) */
static int
auth_cram_md5(struct auth_state *st, const struct buf *chal,
    struct buf *out, struct fail *f)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen = 0, i;

	if (st->step == 0)
		return 0;
	if (st->step > 1)
		return auth_toomany("CRAM-MD5", f);
	if (HMAC(EVP_md5(), st->cred->pass, (int)strlen(st->cred->pass),
	    (const unsigned char *)chal->p, chal->len, md, &mdlen) == NULL)
		return fail_set(f, EX_SOFTWARE, "HMAC-MD5 unavailable");
	if (buf_addf(out, "%s ", st->cred->user) == -1)
		return fail_nomem(f);
	for (i = 0; i < mdlen; i++)
		if (buf_addf(out, "%02x", md[i]) == -1)
			return fail_nomem(f);
	return 1;
}

/*
 * XOAUTH2 and OAUTHBEARER: the token goes in the initial response; a
 * challenge means failure (an error JSON), answered with what lets the
 * server send its 5xx (empty, or %x01 for RFC 7628 §3.2.3).
 */
static int
auth_xoauth2(struct auth_state *st, const struct buf *chal, struct buf *out,
    struct fail *f)
{
	(void)chal;
	if (st->step > 1)
		return auth_toomany("XOAUTH2", f);
	if (st->step == 1)
		return 1;
	if (buf_addf(out, "user=%s\001auth=Bearer %s\001\001", st->cred->user,
	    st->cred->pass) == -1)
		return fail_nomem(f);
	return 1;
}

static int
auth_oauthbearer(struct auth_state *st, const struct buf *chal,
    struct buf *out, struct fail *f)
{
	(void)chal;
	if (st->step > 1)
		return auth_toomany("OAUTHBEARER", f);
	if (st->step == 1)
		return buf_addc(out, '\001') == -1 ? fail_nomem(f) : 1;
	if (buf_addf(out, "n,a=%s,\001auth=Bearer %s\001\001", st->cred->user,
	    st->cred->pass) == -1)
		return fail_nomem(f);
	return 1;
}

/* RFC 5802 §5.1: ',' and '=' in a saslname become =2C and =3D. */
static int
scram_saslname(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == ',' ? buf_adds(out, "=2C") : *s == '=' ?
		    buf_adds(out, "=3D") : buf_addc(out, *s))
			return -1;
	}
	return 0;
}

static int
scram_nonce(struct auth_state *st, struct fail *f)
{
	unsigned char	r[24];
	struct buf	b = { 0 };

	if (st->nonce[0] != '\0')
		return 0;
	if (RAND_bytes(r, sizeof(r)) != 1 || auth_b64_encode(r, sizeof(r),
	    &b) == -1) {
		buf_free(&b);
		return fail_set(f, EX_SOFTWARE, "no random numbers for SCRAM");
	}
	snprintf(st->nonce, sizeof(st->nonce), "%s", b.p);
	buf_free(&b);
	return 0;
}

/* The value of attribute a ("r", "s", "i", "v") in a SCRAM message. */
static int
scram_attr(const struct buf *m, char a, char *out, size_t outsz)
{
	const char	*p = m->p != NULL ? m->p : "";
	size_t		 n;

	while (*p != '\0') {
		n = strcspn(p, ",");
		if (n >= 2 && p[0] == a && p[1] == '=' && n - 2 < outsz) {
			memcpy(out, p + 2, n - 2);
			out[n - 2] = '\0';
			return 0;
		}
		p += n + (p[n] == ',');
	}
	return -1;
}

static int
scram_hmac(const unsigned char *key, size_t klen, const void *msg, size_t n,
    unsigned char *md)
{
	unsigned int	len = 0;

	return HMAC(EVP_sha256(), key, (int)klen, msg, n, md, &len) == NULL ||
	    len != AUTH_SHA256_LEN ? -1 : 0;
}

/* ClientProof and ServerSignature from the server-first message. */
static int
scram_proof(struct auth_state *st, const char *salt64, long iter,
    unsigned char *proof, struct fail *f)
{
	unsigned char	salted[32], ckey[32], skey[32], stored[32], sig[32];
	struct buf	salt = { 0 };
	size_t		i;
	int		r = -1;

	if (auth_b64_decode(salt64, &salt) == -1 || PKCS5_PBKDF2_HMAC(
	    st->cred->pass, (int)strlen(st->cred->pass),
	    (const unsigned char *)salt.p, (int)salt.len, (int)iter,
	    EVP_sha256(), 32, salted) != 1 ||
	    scram_hmac(salted, 32, "Client Key", 10, ckey) == -1 ||
	    EVP_Digest(ckey, 32, stored, NULL, EVP_sha256(), NULL) != 1 ||
	    scram_hmac(stored, 32, st->authmsg.p, st->authmsg.len, sig) == -1 ||
	    scram_hmac(salted, 32, "Server Key", 10, skey) == -1 ||
	    scram_hmac(skey, 32, st->authmsg.p, st->authmsg.len,
	    st->server_sig) == -1) {
		fail_set(f, EX_PROTOCOL, "SCRAM-SHA-256: bad server-first "
		    "message");
		goto out;
	}
	for (i = 0; i < 32; i++)
		proof[i] = ckey[i] ^ sig[i];
	r = 0;
out:
	util_wipe(salted, sizeof(salted));
	util_wipe(ckey, sizeof(ckey));
	util_wipe(skey, sizeof(skey));
	buf_wipe(&salt);
	return r;
}

/* Step 1: server-first "r=nonce,s=salt,i=iter" -> client-final. */
static int
scram_final(struct auth_state *st, const struct buf *chal, struct buf *out,
    struct fail *f)
{
	char		 nonce[256], salt[256], it[16];
	unsigned char	 proof[32];
	long		 iter;
	char		*end;

	if (scram_attr(chal, 'r', nonce, sizeof(nonce)) == -1 ||
	    scram_attr(chal, 's', salt, sizeof(salt)) == -1 ||
	    scram_attr(chal, 'i', it, sizeof(it)) == -1 ||
	    strncmp(nonce, st->nonce, strlen(st->nonce)) != 0 ||
	    (iter = strtol(it, &end, 10)) < 1 || *end != '\0' ||
	    iter > SCRAM_MAX_ITER)
		return fail_set(f, EX_PROTOCOL, "SCRAM-SHA-256: bad "
		    "server-first message");
	/* AuthMessage = client-first-bare "," server-first "," c-f-w-p */
	if (buf_add(&st->authmsg, st->bare.p, st->bare.len) == -1 ||
	    buf_addc(&st->authmsg, ',') == -1 ||
	    buf_add(&st->authmsg, chal->p, chal->len) == -1 ||
	    buf_addf(&st->authmsg, ",c=biws,r=%s", nonce) == -1)
		return fail_nomem(f);
	if (scram_proof(st, salt, iter, proof, f) == -1)
		return -1;
	if (buf_addf(out, "c=biws,r=%s,p=", nonce) == -1 ||
	    auth_b64_encode(proof, sizeof(proof), out) == -1)
		return fail_nomem(f);
	return 1;
}

/* Step 2: server-final "v=signature": the server knows the password. */
static int
scram_verify(struct auth_state *st, const struct buf *chal, struct fail *f)
{
	char		v[128];
	struct buf	sig = { 0 };
	int		ok;

	ok = scram_attr(chal, 'v', v, sizeof(v)) == 0 &&
	    auth_b64_decode(v, &sig) == 0 && sig.len == AUTH_SHA256_LEN &&
	    CRYPTO_memcmp(sig.p, st->server_sig, AUTH_SHA256_LEN) == 0;
	buf_free(&sig);
	if (!ok)
		return fail_set(f, EX_PROTOCOL, "SCRAM-SHA-256: the server "
		    "could not prove it knows the password: session "
		    "abandoned");
	st->server_checked = 1;
	return 1;
}

static int
auth_scram(struct auth_state *st, const struct buf *chal, struct buf *out,
    struct fail *f)
{
	if (st->step == 1)
		return scram_final(st, chal, out, f);
	if (st->step == 2)
		return scram_verify(st, chal, f);
	if (st->step > 2)
		return auth_toomany("SCRAM-SHA-256", f);
	/* client-first: gs2 header "n,," (no channel binding), then bare */
	if (scram_nonce(st, f) == -1)
		return -1;
	if (buf_adds(&st->bare, "n=") == -1 ||
	    scram_saslname(&st->bare, st->cred->user) == -1 ||
	    buf_addf(&st->bare, ",r=%s", st->nonce) == -1 ||
	    buf_adds(out, "n,,") == -1 ||
	    buf_add(out, st->bare.p, st->bare.len) == -1)
		return fail_nomem(f);
	return 1;
}

/* Strongest first: auto picks the first autopick one offered. */
static const struct mech mechs[] = {
	{ "SCRAM-SHA-256", 1, 0, auth_scram },
	{ "PLAIN", 1, 0, auth_plain },
	{ "LOGIN", 1, 0, auth_login },
	{ "CRAM-MD5", 0, 0, auth_cram_md5 },
	{ "XOAUTH2", 0, 1, auth_xoauth2 },
	{ "OAUTHBEARER", 0, 1, auth_oauthbearer },
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
	int	 autom = util_strcasecmp(conf, "auto") == 0;
	size_t	 i;

	for (i = 0; i < NMECH; i++) {
		if (autom ? !mechs[i].autopick :
		    util_strcasecmp(conf, mechs[i].name) != 0)
			continue;
		if (auth_offered(offered, mechs[i].name))
			return (int)i;
		if (!autom)
			return fail_set(f, EX_NOPERM, "the server does not "
			    "offer AUTH %s (it offers: %s): set auth = auto",
			    mechs[i].name, offered);
	}
	if (!autom)
		return fail_set(f, EX_CONFIG, "auth = %s: unknown mechanism",
		    conf);
	return fail_set(f, EX_NOPERM, "the server offers no AUTH mechanism "
	    "relaymail uses on its own (it offers: %s): name one with auth",
	    offered);
}

const char *
auth_name(int m)
{
	return mechs[m].name;
}

int
auth_is_oauth(int m)
{
	return mechs[m].oauth;
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

/* Run the mechanism's step on a decoded challenge, encode the answer. */
static int
auth_run(struct auth_state *st, const struct buf *chal, struct buf *out,
    struct fail *f)
{
	struct buf	raw = { 0 };
	int		r;

	r = mechs[st->mech].step(st, chal, &raw, f);
	if (r == 1 && auth_b64_encode((unsigned char *)raw.p, raw.len,
	    out) == -1)
		r = fail_nomem(f);
	buf_wipe(&raw);
	st->step++;
	return r;
}

int
auth_start(struct auth_state *st, int m, const struct auth_cred *c,
    struct buf *out, struct fail *f)
{
	struct buf	none = { 0 };

	st->mech = m;
	st->step = 0;
	st->cred = c;
	return auth_run(st, &none, out, f);
}

int
auth_next(struct auth_state *st, const char *chal, struct buf *out,
    struct fail *f)
{
	struct buf	dec = { 0 };
	int		r;

	if (auth_b64_decode(chal, &dec) == -1) {
		buf_wipe(&dec);
		return fail_set(f, EX_PROTOCOL, "the server sent a malformed "
		    "AUTH challenge");
	}
	r = auth_run(st, &dec, out, f);
	buf_wipe(&dec);
	return r == -1 ? -1 : 0;
}

int
auth_finish(struct auth_state *st, struct fail *f)
{
	/* a 235 before SCRAM's v= is a server that never proved itself */
	if (mechs[st->mech].step == auth_scram && !st->server_checked)
		return fail_set(f, EX_PROTOCOL, "SCRAM-SHA-256: the server "
		    "accepted without proving it knows the password");
	return 0;
}

void
auth_clear(struct auth_state *st)
{
	buf_wipe(&st->bare);
	buf_wipe(&st->authmsg);
	util_wipe(st, sizeof(*st));
}
