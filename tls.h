/*
 * tls.h -- OpenSSL policy: context, trust anchors, host name, SNI, pinning
 * (SPEC §3, PITFALLS.md).  The I/O of the handshake is stream.c's.
 */
#ifndef TLS_H
#define TLS_H

#include <stddef.h>

struct fail;
struct ssl_st;
struct tls_ctx;

struct tls_conf {
	const char	*ca_file;	/* NULL: the system's hashed directory */
	int		 verify;	/* tls_verify */
	const char	*fingerprint;	/* "sha256:<hex>" or NULL */
	const char	*cert_file;	/* client certificate, or NULL */
	const char	*key_file;
	const char	*cert_pem;	/* their contents (PEM), read while */
	size_t		 cert_pem_len;	/* privileged (priv.c) */
	const char	*key_pem;
	size_t		 key_pem_len;
	const char	*min_version;	/* "1.2" (default) or "1.3" */
};

/*
 * Initialise OpenSSL without its configuration file and build the
 * client context: TLS 1.2 minimum, trust anchors from ca_file or looked
 * up lazily in the hashed certificate directory (never a whole bundle
 * parsed per process).  No trust anchor to be found is an error, never
 * unverified TLS.  NULL with EX_CONFIG or EX_SOFTWARE.
 */
struct tls_ctx	*tls_ctx_new(const struct tls_conf *, struct fail *);
void		 tls_ctx_free(struct tls_ctx *);

/*
 * A new session on fd for host: SNI for names (none for IP literals,
 * RFC 6066 §3), host name or IP checked by OpenSSL, no partial
 * wildcards.  NULL with EX_SOFTWARE.
 */
struct ssl_st	*tls_session_new(struct tls_ctx *, int, const char *,
		    struct fail *);

/*
 * After SSL_connect() succeeded: require a peer certificate, a good chain
 * (unless pinned or tls_verify = false) and a matching pin.  0, or -1
 * with EX_TEMPFAIL naming the cause and the fix.
 */
int	tls_check_peer(struct tls_ctx *, struct ssl_st *, const char *,
	    struct fail *);

/*
 * Describe a failed handshake in one line (certificate problems name the
 * fix); always EX_TEMPFAIL (SPEC §4: a TLS failure is temporary).
 * Returns -1.
 */
int	tls_handshake_failed(struct tls_ctx *, struct ssl_st *, const char *,
	    struct fail *);

/* What --check reports about the server's certificate and the session. */
struct tls_peer {
	char	version[16];	/* "TLSv1.3" */
	char	cipher[64];
	char	subject[256];	/* RFC 2253 */
	char	issuer[256];
	char	not_before[32];	/* "2026-01-01 00:00:00 UTC" */
	char	not_after[32];
	int	days_left;	/* until not_after; negative: expired */
	char	pin[72];	/* "sha256:<hex>", as tls_fingerprint takes it */
	char	verdict[160];	/* how it was (or was not) trusted */
};

/*
 * Describe the session and the server's certificate into p.  Works after
 * a failed verification too (the chain the server sent is kept), so
 * --check can show what it was offered.  0, or -1 when the server sent
 * no certificate (p is then cleared).
 */
int	tls_describe(struct tls_ctx *, struct ssl_st *, struct tls_peer *);

#endif /* TLS_H */
