/*
 * tls.c -- OpenSSL policy.  Every choice here follows the OpenSSL 3.0
 * manual pages and the pitfalls collected in PITFALLS.md.
 */
#include <arpa/inet.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "tls.h"
#include "util.h"

#define PIN_LEN	32	/* SHA-256 */

struct tls_ctx {
	SSL_CTX		*ctx;
	int		 verify;
	int		 pinned;
	int		 minv;		/* TLS1_2_VERSION or TLS1_3_VERSION */
	int		 ca_file;	/* trust from tls_ca_file */
	unsigned char	 pin[PIN_LEN];
};

static int
tls_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "sha256:" then 64 hex digits, colons between octets allowed. */
static int
tls_parse_pin(const char *s, unsigned char *pin, struct fail *f)
{
	size_t	n = 0;
	int	hi, lo;

	if (util_strncasecmp(s, "sha256:", 7) != 0)
		goto bad;
	for (s += 7; *s != '\0' && n < PIN_LEN; n++) {
		if ((hi = tls_hexval(s[0])) < 0 || (lo = tls_hexval(s[1])) < 0)
			goto bad;
		pin[n] = (unsigned char)(hi << 4 | lo);
		s += 2;
		if (*s == ':')
			s++;
	}
	if (n == PIN_LEN && *s == '\0')
		return 0;
bad:
	return fail_set(f, EX_CONFIG, "tls_fingerprint: expected \"sha256:\" "
	    "and 64 hex digits, as printed by: openssl x509 -pubkey -noout | "
	    "openssl pkey -pubin -outform der | sha256sum");
}

/* Is there at least one hashed certificate name ("xxxxxxxx.N") in dir? */
static int
tls_dir_has_anchors(const char *dir)
{
	DIR		*d;
	struct dirent	*e;
	int		 found = 0;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while (!found && (e = readdir(d)) != NULL)
		found = strlen(e->d_name) == 10 && e->d_name[8] == '.';
	closedir(d);
	return found;
}

/*
 * Trust anchors: tls_ca_file when given; otherwise the hashed directory,
 * searched lazily by subject so only a chain's own anchors are read
 * (msmtp parses ~145 certificates per message from the bundle).
 * SSL_CERT_FILE/SSL_CERT_DIR are the user's own trust and OpenSSL
 * ignores them in set-id processes (openssl-env(7)).
 */
static int
tls_load_trust(SSL_CTX *ctx, const char *ca_file, struct fail *f)
{
	const char	*dir, *file;

	if (ca_file != NULL) {
		if (SSL_CTX_load_verify_file(ctx, ca_file) != 1)
			return fail_set(f, EX_CONFIG, "tls_ca_file %s: no "
			    "certificate could be loaded from it", ca_file);
		return 0;
	}
	if ((file = secure_getenv("SSL_CERT_FILE")) != NULL && *file != '\0')
		return SSL_CTX_load_verify_file(ctx, file) == 1 ? 0 :
		    fail_set(f, EX_CONFIG, "SSL_CERT_FILE %s: no certificate "
		    "could be loaded from it", file);
	if ((dir = secure_getenv("SSL_CERT_DIR")) == NULL || *dir == '\0')
		dir = X509_get_default_cert_dir();
	if (!tls_dir_has_anchors(dir))
		return fail_set(f, EX_CONFIG, "no trust anchors found in %s: "
		    "install ca-certificates or set tls_ca_file", dir);
	if (SSL_CTX_load_verify_dir(ctx, dir) != 1)
		return fail_set(f, EX_CONFIG, "cannot use the certificate "
		    "directory %s", dir);
	return 0;
}

/* A key with a passphrase cannot be opened: nobody is there to type
 * it, and OpenSSL's default callback would prompt on the terminal. */
static int
tls_no_pass(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * The certificate chain from memory: the first PEM certificate is the
 * client's, the rest its chain (SSL_CTX_use_certificate_chain_file's
 * rules, but from the buffer priv.c read while it could).
 */
static int
tls_client_chain(SSL_CTX *ctx, const struct tls_conf *tc)
{
	BIO	*b;
	X509	*x;
	int	 ok = 0;

	if ((b = BIO_new_mem_buf(tc->cert_pem, (int)tc->cert_pem_len)) ==
	    NULL)
		return 0;
	if ((x = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL)) != NULL &&
	    SSL_CTX_use_certificate(ctx, x) == 1 &&
	    SSL_CTX_clear_chain_certs(ctx) == 1) {
		X509_free(x);
		ok = 1;
		while (ok && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) !=
		    NULL)
			if (!(ok = SSL_CTX_add0_chain_cert(ctx, x)))
				X509_free(x);
		/* the end of the buffer, not a broken certificate */
		if (ok && ERR_GET_REASON(ERR_peek_last_error()) !=
		    PEM_R_NO_START_LINE)
			ok = 0;
		ERR_clear_error();
	} else
		X509_free(x);
	BIO_free(b);
	return ok;
}

/* The client key from memory, passphrase-less (no prompt: no tty). */
static int
tls_client_key(SSL_CTX *ctx, const struct tls_conf *tc)
{
	BIO		*b;
	EVP_PKEY	*k = NULL;
	int		 ok = 0;

	if ((b = BIO_new_mem_buf(tc->key_pem, (int)tc->key_pem_len)) !=
	    NULL && (k = PEM_read_bio_PrivateKey(b, NULL, tls_no_pass,
	    NULL)) != NULL)
		ok = SSL_CTX_use_PrivateKey(ctx, k) == 1 &&
		    SSL_CTX_check_private_key(ctx) == 1;
	EVP_PKEY_free(k);
	BIO_free(b);
	return ok;
}

static int
tls_client_cert(SSL_CTX *ctx, const struct tls_conf *tc, struct fail *f)
{
	if (tc->cert_file == NULL && tc->key_file == NULL)
		return 0;
	if (tc->cert_file == NULL || tc->key_file == NULL)
		return fail_set(f, EX_CONFIG, "set both tls_cert_file and "
		    "tls_key_file, or neither");
	if (tc->cert_pem == NULL || tc->key_pem == NULL)
		return fail_set(f, EX_SOFTWARE, "the client certificate was "
		    "not read");
	if (!tls_client_chain(ctx, tc))
		return fail_set(f, EX_CONFIG, "tls_cert_file %s: cannot load "
		    "the certificate", tc->cert_file);
	if (!tls_client_key(ctx, tc))
		return fail_set(f, EX_CONFIG, "tls_key_file %s: cannot load "
		    "the key (an unencrypted PEM key), or it does not match "
		    "tls_cert_file", tc->key_file);
	return 0;
}

static int
tls_ctx_setup(struct tls_ctx *t, const struct tls_conf *tc, struct fail *f)
{
	int	minv = TLS1_2_VERSION;

	/* RFC 8996: no TLS 1.0/1.1, whatever the library's default. */
	if (tc->min_version != NULL && strcmp(tc->min_version, "1.3") == 0)
		minv = TLS1_3_VERSION;
	t->minv = minv;
	t->ca_file = tc->ca_file != NULL;
	if (SSL_CTX_set_min_proto_version(t->ctx, minv) != 1)
		return fail_set(f, EX_SOFTWARE, "cannot set the TLS minimum");
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	if (tc->fingerprint != NULL &&
	    tls_parse_pin(tc->fingerprint, t->pin, f) == -1)
		return -1;
	t->pinned = tc->fingerprint != NULL;
	t->verify = tc->verify && !t->pinned;
	SSL_CTX_set_verify(t->ctx, t->verify ? SSL_VERIFY_PEER :
	    SSL_VERIFY_NONE, NULL);
	if (t->verify && tls_load_trust(t->ctx, tc->ca_file, f) == -1)
		return -1;
	return tls_client_cert(t->ctx, tc, f);
}

struct tls_ctx *
tls_ctx_new(const struct tls_conf *tc, struct fail *f)
{
	struct tls_ctx	*t;

	/* The system openssl.cnf is not ours to load (issue: cost, and
	 * its providers and policies are not relaymail's). */
	/*
	 * Every mail is a process start (SPEC §7): no atexit cleanup (exit
	 * frees it; SSL_free already cleansed the keys), no libcrypto
	 * reason strings (libssl's stay), no legacy cipher-name table
	 * (libssl 3 fetches its ciphers).  Digests must stay: X509 finds
	 * the signature digest by NID.  -4.6 M instructions per message
	 * (bench/README.md, proposal 1).
	 */
	if (OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG |
	    OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS |
	    OPENSSL_INIT_NO_ADD_ALL_CIPHERS, NULL) != 1) {
		fail_set(f, EX_SOFTWARE, "cannot initialise OpenSSL");
		return NULL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		fail_nomem(f);
		return NULL;
	}
	if ((t->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		fail_set(f, EX_SOFTWARE, "cannot create a TLS context");
		free(t);
		return NULL;
	}
	if (tls_ctx_setup(t, tc, f) == -1) {
		tls_ctx_free(t);
		return NULL;
	}
	return t;
}

void
tls_ctx_free(struct tls_ctx *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

static int
tls_is_ip(const char *host)
{
	unsigned char	a[16];

	return inet_pton(AF_INET, host, a) == 1 ||
	    inet_pton(AF_INET6, host, a) == 1;
}

struct ssl_st *
tls_session_new(struct tls_ctx *t, int fd, const char *host, struct fail *f)
{
	SSL	*ssl;
	int	 ok;

	if ((ssl = SSL_new(t->ctx)) == NULL || SSL_set_fd(ssl, fd) != 1)
		goto err;
	if (tls_is_ip(host)) {
		/* RFC 6066 §3: no SNI for an address literal */
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	} else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set1_host(ssl, host) == 1 &&
		    SSL_set_tlsext_host_name(ssl, host) == 1;
	}
	if (!ok)
		goto err;
	return ssl;
err:
	SSL_free(ssl);
	fail_set(f, EX_SOFTWARE, "cannot set up a TLS session for %s", host);
	return NULL;
}

/* SHA-256 of the DER SubjectPublicKeyInfo (not X509_pubkey_digest()). */
static int
tls_spki_sha256(X509 *cert, unsigned char *md)
{
	unsigned char	*der = NULL;
	unsigned int	 mdlen = 0;
	int		 n, ok;

	if ((n = i2d_PUBKEY(X509_get0_pubkey(cert), &der)) <= 0)
		return -1;
	ok = EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	return ok == 1 && mdlen == PIN_LEN ? 0 : -1;
}

static void
tls_hex_pin(const unsigned char *md, char *out, size_t outsz)
{
	size_t	i, o;

	o = (size_t)snprintf(out, outsz, "sha256:");
	for (i = 0; i < PIN_LEN && o + 2 < outsz; i++)
		o += (size_t)snprintf(out + o, outsz - o, "%02x", md[i]);
}

static void
tls_time(const ASN1_TIME *a, char *out, size_t outsz)
{
	struct tm	tm;

	if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1 ||
	    strftime(out, outsz, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, outsz, "?");
}

static void
tls_name(X509_NAME *n, char *out, size_t outsz)
{
	BIO	*b = BIO_new(BIO_s_mem());
	int	 len;

	out[0] = '\0';
	if (b == NULL)
		return;
	/* RFC 2253, control characters and every non-ASCII octet escaped:
	 * a hostile certificate must not drive the terminal. */
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0 &&
	    (len = BIO_read(b, out, (int)outsz - 1)) > 0)
		out[len] = '\0';
	BIO_free(b);
}

/* The server's certificate: the verified peer, or after a failed
 * verification the first certificate of the chain it sent. */
static X509 *
tls_leaf(SSL *ssl)
{
	STACK_OF(X509)	*chain;
	X509		*c;

	if ((c = SSL_get0_peer_certificate(ssl)) != NULL)
		return c;
	if ((chain = SSL_get_peer_cert_chain(ssl)) != NULL &&
	    sk_X509_num(chain) > 0)
		return sk_X509_value(chain, 0);
	return NULL;
}

static void
tls_verdict(struct tls_ctx *t, SSL *ssl, const unsigned char *md,
    struct tls_peer *p)
{
	long	v = SSL_get_verify_result(ssl);

	if (t->pinned)
		snprintf(p->verdict, sizeof(p->verdict), "%s",
		    CRYPTO_memcmp(md, t->pin, PIN_LEN) == 0 ?
		    "trusted: the public key matches tls_fingerprint" :
		    "NOT trusted: the public key does not match "
		    "tls_fingerprint");
	else if (!t->verify)
		snprintf(p->verdict, sizeof(p->verdict), "NOT verified "
		    "(tls_verify = false)");
	else if (v == X509_V_OK)
		snprintf(p->verdict, sizeof(p->verdict), "verified: chain "
		    "to a trust anchor in %s, name matches",
		    t->ca_file ? "tls_ca_file" : "the system store");
	else
		snprintf(p->verdict, sizeof(p->verdict), "NOT trusted: %s",
		    X509_verify_cert_error_string(v));
}

int
tls_describe(struct tls_ctx *t, struct ssl_st *ssl, struct tls_peer *p)
{
	unsigned char	 md[PIN_LEN];
	X509		*cert = tls_leaf(ssl);
	const char	*cipher = SSL_get_cipher_name(ssl);
	int		 secs;

	memset(p, 0, sizeof(*p));
	if (cert == NULL || tls_spki_sha256(cert, md) == -1)
		return -1;
	snprintf(p->version, sizeof(p->version), "%s", SSL_get_version(ssl));
	snprintf(p->cipher, sizeof(p->cipher), "%s",
	    cipher != NULL ? cipher : "none");
	tls_name(X509_get_subject_name(cert), p->subject, sizeof(p->subject));
	tls_name(X509_get_issuer_name(cert), p->issuer, sizeof(p->issuer));
	tls_time(X509_get0_notBefore(cert), p->not_before,
	    sizeof(p->not_before));
	tls_time(X509_get0_notAfter(cert), p->not_after, sizeof(p->not_after));
	if (ASN1_TIME_diff(&p->days_left, &secs, NULL,
	    X509_get0_notAfter(cert)) != 1)
		p->days_left = 0;
	tls_hex_pin(md, p->pin, sizeof(p->pin));
	tls_verdict(t, ssl, md, p);
	util_wipe(md, sizeof(md));
	return 0;
}

/* What to tell the user for a chain or name verification failure. */
struct vhint {
	long		 code;
	const char	*what;
	const char	*fix;
};

static const struct vhint vhints[] = {
	{ X509_V_ERR_HOSTNAME_MISMATCH, "does not match the host name",
	    "set host to a name the certificate carries" },
	{ X509_V_ERR_IP_ADDRESS_MISMATCH, "does not match the address",
	    "set host to a name the certificate carries" },
	{ X509_V_ERR_CERT_HAS_EXPIRED, "has expired",
	    "the server must renew it (or check this host's clock)" },
	{ X509_V_ERR_CERT_NOT_YET_VALID, "is not yet valid",
	    "check this host's clock" },
	{ X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "is self-signed",
	    "set tls_ca_file or tls_fingerprint" },
	{ X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "is not trusted "
	    "(self-signed certificate in chain)",
	    "set tls_ca_file or tls_fingerprint" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "is not trusted "
	    "(unknown CA)", "set tls_ca_file or tls_fingerprint" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, "is not trusted "
	    "(unknown CA)", "set tls_ca_file or tls_fingerprint" },
};

/* A certificate verdict will not change within this run: no retry. */
static int
tls_verify_fail(const char *host, long code, struct fail *f)
{
	size_t	i;

	for (i = 0; i < sizeof(vhints) / sizeof(vhints[0]); i++)
		if (vhints[i].code == code)
			break;
	if (i < sizeof(vhints) / sizeof(vhints[0]))
		fail_set(f, EX_TEMPFAIL, "%s: certificate %s: %s", host,
		    vhints[i].what, vhints[i].fix);
	else
		fail_set(f, EX_TEMPFAIL, "%s: certificate not accepted (%s): "
		    "set tls_ca_file or tls_fingerprint", host,
		    X509_verify_cert_error_string(code));
	f->noretry = 1;
	return -1;
}

int
tls_check_peer(struct tls_ctx *t, struct ssl_st *ssl, const char *host,
    struct fail *f)
{
	unsigned char	 md[PIN_LEN];
	X509		*cert = SSL_get0_peer_certificate(ssl);
	long		 v = SSL_get_verify_result(ssl);

	/* SSL_get_verify_result(3) BUGS: X509_V_OK without a certificate */
	if (cert == NULL)
		return fail_set(f, EX_TEMPFAIL, "%s: the server presented no "
		    "certificate", host);
	if (t->verify && v != X509_V_OK)
		return tls_verify_fail(host, v, f);
	if (!t->pinned)
		return 0;
	if (tls_spki_sha256(cert, md) == -1 ||
	    CRYPTO_memcmp(md, t->pin, PIN_LEN) != 0) {
		fail_set(f, EX_TEMPFAIL, "%s: the server's public key does "
		    "not match tls_fingerprint (see relaymail --check)", host);
		f->noretry = 1;
		return -1;
	}
	return 0;
}

int
tls_handshake_failed(struct tls_ctx *t, struct ssl_st *ssl,
    const char *host, struct fail *f)
{
	unsigned long	 e = ERR_peek_last_error();
	long		 v = SSL_get_verify_result(ssl);
	char		 why[256];

	if (t->verify && v != X509_V_OK)
		return tls_verify_fail(host, v, f);
	if (e == 0)
		return fail_set(f, EX_TEMPFAIL, "%s: TLS handshake failed: "
		    "connection closed", host);
	ERR_error_string_n(e, why, sizeof(why));
	if (ERR_GET_REASON(e) == SSL_R_UNSUPPORTED_PROTOCOL ||
	    ERR_GET_REASON(e) == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION) {
		fail_set(f, EX_TEMPFAIL, "%s: the server offers no TLS "
		    "version of %s or later (tls_min_version; RFC 8996 "
		    "retired 1.0 and 1.1)", host,
		    t->minv == TLS1_3_VERSION ? "1.3" : "1.2");
		f->noretry = 1;
		return -1;
	}
	return fail_set(f, EX_TEMPFAIL, "%s: TLS handshake failed: %s", host,
	    ERR_reason_error_string(e) != NULL ?
	    ERR_reason_error_string(e) : why);
}
