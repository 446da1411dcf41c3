/*
 * libFuzzer harness for smtp.c (with stream.c and auth.c under it): the
 * reply reader, the EHLO capability parser, the AUTH exchange (SASL
 * challenges, SCRAM's server messages) and the transaction, as a
 * hostile server drives them.
 *
 * The client runs smtp_open() and smtp_send() with tls = none over a
 * socketpair; the other end holds the fuzz input as everything the
 * server ever says, then is shut for writing, so every read ends at
 * once (EOF) and nothing waits on a timeout.  The first octet picks the
 * AUTH mechanism (none, or one of them with auth_plaintext), the number
 * of recipients (1, 3 or 150: two transactions) and DSN options.
 * Properties:
 *   - a failure has a sysexits class the caller knows, never
 *     EX_SOFTWARE; its message and reply hold no control character (a
 *     server must not drive the terminal or forge a log line);
 *   - the password never appears in clear on the wire, nor in a
 *     message unless the server said it;
 *   - what the client sent is CRLF lines of at most 512 octets outside
 *     the message, and every message it sent, unstuffed, is the source
 *     (RFC 5321 §4.5.2);
 *   - success marks every recipient done.
 *
 *   make fuzz && .fuzz/smtp tests/fuzz/corpus/smtp
 */
#include <sys/socket.h>

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp.h"
#include "util.h"

#define CHECK(c)	do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", \
	__FILE__, __LINE__, #c); abort(); } } while (0)

#define PASS	"fuzz-S3cret pw"
#define NRCPT_MAX 150

static const char body[] =
    "Subject: dots\r\n\r\n.\r\n..two\r\n.a line\r\nend.\r\n.";

static const char *const mechs[] = { NULL, "auto", "plain", "login",
    "cram-md5", "scram-sha-256", "xoauth2", "oauthbearer" };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

struct src {
	size_t	off;
	size_t	piece;
};

static ssize_t
src_read(void *arg, char *buf, size_t n, struct fail *f)
{
	struct src	*s = arg;
	size_t		 left = sizeof(body) - 1 - s->off;

	(void)f;
	if (n > s->piece)
		n = s->piece;
	if (n > left)
		n = left;
	memcpy(buf, body + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static int
src_rewind(void *arg, struct fail *f)
{
	(void)f;
	((struct src *)arg)->off = 0;
	return 0;
}

static void
check_text(const char *s)
{
	for (; *s != '\0'; s++)
		CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
}

static int	server_says_pass;	/* the script itself holds PASS */

static void
check_fail(const struct fail *f)
{
	static const int known[] = { 64, 65, 67, 69, 71, 75, 76, 77, 78 };
	size_t	i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (f->ex == known[i])
			break;
	if (i == sizeof(known) / sizeof(known[0]))
		fprintf(stderr, "class %d: %s\n", f->ex, f->msg);
	CHECK(i < sizeof(known) / sizeof(known[0]));
	CHECK(f->msg[0] != '\0');
	check_text(f->msg);
	check_text(f->reply);
	CHECK(server_says_pass || (strstr(f->msg, PASS) == NULL &&
	    strstr(f->reply, PASS) == NULL));
}

/* Undo dot-stuffing of one message: lines up to "." alone. */
static const char *
unstuff(const char *p, const char *end, struct buf *out)
{
	const char	*nl;

	while (p < end) {
		nl = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (nl == NULL)
			return NULL;
		if (nl - p == 1 && *p == '.')
			return nl + 2;
		if (*p == '.')
			p++;
		CHECK(buf_add(out, p, (size_t)(nl + 2 - p)) == 0);
		p = nl + 2;
	}
	return NULL;
}

/* What went out: commands, and each complete message as the source. */
static void
check_wire(const char *p, size_t n)
{
	const char	*end = p + n, *nl;
	struct buf	 m = { 0 };

	CHECK(memmem(p, n, PASS, strlen(PASS)) == NULL);
	while (p < end) {
		const char	*l = p;

		nl = memmem(p, (size_t)(end - p), "\r\n", 2);
		CHECK(nl != NULL);
		CHECK(nl - l <= 510);
		CHECK(memchr(l, '\n', (size_t)(nl - l)) == NULL);
		p = nl + 2;
		if (nl - l != 4 || memcmp(l, "DATA", 4) != 0)
			continue;
		/* DATA may have been refused: only a dot-ended message of
		 * the source's length is checked, and then skipped */
		buf_reset(&m);
		if ((nl = unstuff(p, end, &m)) == NULL)
			break;
		if (m.len == sizeof(body) + 1) {
			CHECK(memcmp(m.p, body, sizeof(body) - 1) == 0);
			CHECK(memcmp(m.p + sizeof(body) - 1, "\r\n", 2) == 0);
			p = nl;
		}
	}
	buf_free(&m);
}

/* Put the whole server side in the socket, then EOF. */
static int
serve_script(int peer, const uint8_t *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(peer, p, n)) <= 0)
			return -1;	/* full: the rest is cut */
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t nr[] = { 1, 3, NRCPT_MAX, 1 };
	struct smtp_opts o = { 0 };
	struct smtp_env	 e = { 0 };
	struct src	 s = { 0, 0 };
	struct smtp_source src = { src_read, src_rewind, &s };
	struct fail	 f;
	struct smtp	*sm;
	struct buf	 wire = { 0 };
	char		 rcpt[NRCPT_MAX][32], chunk[4096];
	const char	*rv[NRCPT_MAX];
	unsigned char	 done[NRCPT_MAX];
	int		 sv[2], after, opt;
	ssize_t		 r;
	size_t		 i;

	if (size < 1)
		return 0;
	opt = data[0];
	server_says_pass = memmem(data, size, PASS, strlen(PASS)) != NULL;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	CHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
	(void)serve_script(sv[1], data + 1, size - 1);
	shutdown(sv[1], SHUT_WR);
	o.host = "smtp.example.org";
	o.helo = "client.example.org";
	o.tls = CONF_TLS_NONE;
	o.auth = mechs[opt & 7];
	if (o.auth != NULL) {
		o.user = "user@example.org";
		o.pass = PASS;
		o.auth_plaintext = 1;
	} else
		o.auth = "none";
	o.timeout_ms = 1000;
	o.final_timeout_ms = 1000;
	if ((sm = smtp_open(sv[0], &o, &f)) == NULL) {
		check_fail(&f);
		goto wire;
	}
	for (i = 0; i < NRCPT_MAX; i++) {
		snprintf(rcpt[i], sizeof(rcpt[i]), "r%zu@example.org", i);
		rv[i] = rcpt[i];
	}
	memset(done, 0, sizeof(done));
	e.from = (opt & 0x40) ? "" : "a@example.org";
	e.rcpt = rv;
	e.nrcpt = nr[(opt >> 3) & 3];
	e.done = done;
	e.size = sizeof(body) + 1;
	e.body8bit = (opt & 0x20) != 0;
	if (opt & 0x80) {
		e.dsn_notify = "SUCCESS,FAILURE";
		e.dsn_ret = "HDRS";
		e.dsn_envid = "id+= x";
	}
	s.piece = 1 + (size > 1 ? data[size - 1] : 0) * 8;
	if (smtp_send(sm, &e, &src, &after, &f) == -1)
		check_fail(&f);
	else
		for (i = 0; i < e.nrcpt; i++)
			CHECK(done[i]);
	smtp_close(sm);
wire:
	while ((r = read(sv[1], chunk, sizeof(chunk))) > 0)
		CHECK(buf_add(&wire, chunk, (size_t)r) == 0);
	check_wire(wire.p != NULL ? wire.p : "", wire.len);
	buf_free(&wire);
	close(sv[1]);
	return 0;
}
