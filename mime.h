/*
 * mime.h -- 8-bit data, long lines and NUL on the way to the smarthost
 * (SPEC §2.4): declare what the server accepts (BODY=8BITMIME, SMTPUTF8),
 * convert what it does not.
 *
 * The codecs are pure functions: base64 and quoted-printable (RFC 2045
 * §6.7, §6.8), RFC 2047 encoded-words, streaming encoders for bodies.
 * The message converter walks the MIME structure (RFC 2046 boundaries,
 * nested multiparts and message/rfc822, depth-limited) and re-encodes the
 * leaf parts that cannot travel as they are; header text is re-encoded
 * (RFC 2047, RFC 2231) and folded, and no field is added or removed
 * except the MIME-Version, Content-Type and Content-Transfer-Encoding
 * that converting a part needs.  What a reader sees after decoding is
 * what the sender wrote.  Memory does not grow with the message
 * (SPEC §7): the body is read in chunks, and one octet of flags is kept
 * per MIME part.
 */
#ifndef MIME_H
#define MIME_H

#include <stddef.h>
#include <sys/types.h>

struct buf;
struct fail;
struct msg;

/* ---------------------------------------------------------------- codecs */

/* Append the base64 encoding of p[0..n) (RFC 2045 §6.8, no line
 * breaks).  0 or -1 on memory exhaustion. */
int	mime_base64(const unsigned char *, size_t, struct buf *);

/* Append the octets of base64 text s[0..n); characters outside the
 * alphabet are ignored and decoding stops at the first "=" (RFC 2045
 * §6.8).  0 or -1 on memory exhaustion. */
int	mime_base64_decode(const char *, size_t, struct buf *);

/*
 * Append s[0..n) as quoted-printable (RFC 2045 §6.7): CRLF is a hard
 * line break, every other octet outside printable ASCII is =XX, lines
 * are at most 76 characters (soft breaks), white space before a line
 * break is encoded, and a line never starts with a literal ".", "-" or
 * "From " (RFC 2049 §3; a "-" could look like a boundary).  Output ends
 * without a line break unless s does.  0 or -1.
 */
int	mime_qp(const char *, size_t, struct buf *);

/* Append the octets of quoted-printable text s[0..n): =XX and soft
 * breaks decoded, anything malformed kept literally (as Python's
 * binascii.a2b_qp does).  0 or -1. */
int	mime_qp_decode(const char *, size_t, struct buf *);

/*
 * Append s as RFC 2047 "B" encoded-words in UTF-8, each at most 75
 * octets (§2), separated by a folding CRLF SP, never splitting a UTF-8
 * sequence.  0 or -1 on memory exhaustion.
 */
int	mime_encode_words(const char *, struct buf *);

/*
 * Append s[0..n) as RFC 2047 encoded-words separated by single spaces,
 * each at most 75 octets and holding whole characters: charset utf-8
 * when s is valid UTF-8, else unknown-8bit (RFC 1428); "Q" when few
 * octets need encoding, else "B".  The Q alphabet is the one allowed
 * in phrases (§5 (3)), so the words fit any header context.  0 or -1.
 */
int	mime_encode_text(const char *, size_t, struct buf *);

/* Append the text of s[0..n) with its encoded-words decoded (raw
 * octets, charset ignored; white space between adjacent words
 * dropped, RFC 2047 §6.2).  0 or -1. */
int	mime_decode_words(const char *, size_t, struct buf *);

/* Does s contain an octet >= 0x80? */
int	mime_has_8bit(const char *, size_t);

/* Is s[0..n) well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF)? */
int	mime_utf8_valid(const char *, size_t);

/* A streaming body encoder: feed it any pieces, then end it. */
enum mime_enc_kind {
	MIME_ENC_QP = 1,	/* quoted-printable, as mime_qp() */
	MIME_ENC_BASE64,	/* base64, 76-character lines */
	MIME_ENC_QPFIX,		/* mend quoted-printable: 8-bit, NUL, long lines */
	MIME_ENC_B64FIX		/* mend base64: drop non-alphabet, rewrap */
};

struct mime_enc {
	int		 kind;
	unsigned char	 q[3];		/* base64: an unfinished quantum */
	size_t		 nq;
	size_t		 col;		/* characters on the output line */
	char		 line[80];	/* QP: the output line being built */
	size_t		 len;
	int		 ws;		/* QP: the line ends in a literal SP/HTAB */
	int		 cr;		/* a CR waits to see whether LF follows */
	char		 eq[3];		/* QPFIX: an "=" sequence being read */
	size_t		 neq;
};

/* Start an encoder of this kind. */
void	mime_enc_init(struct mime_enc *, int);
/* Encode p[0..n), appending to out.  0 or -1 on memory exhaustion. */
int	mime_enc_put(struct mime_enc *, const char *, size_t, struct buf *);
/* Flush what is pending (no final line break).  0 or -1. */
int	mime_enc_end(struct mime_enc *, struct buf *);

/* ---------------------------------------------------------------- fields */

/*
 * Append one header field (raw, possibly folded, without its final line
 * ending) followed by CRLF.  With encode, 8-bit text becomes RFC 2047
 * encoded-words (display names, comments, unstructured text) or RFC
 * 2231 parameters (Content-Type, Content-Disposition); a field with a
 * line over 998 octets is refolded at white space within 78 columns
 * where the words allow (RFC 5322 §2.1.1, §2.2.3).  A field that is
 * fine goes out byte for byte.  0, or -1 with EX_DATAERR (a structured
 * field with a word too long to fold) or EX_OSERR.
 */
int	mime_field(const char *, size_t, int, struct buf *, struct fail *);

/* ---------------------------------------------------------------- message */

/* What the server offers, and what the envelope needs. */
struct mime_caps {
	int	eightbit;	/* 8BITMIME (RFC 6152) */
	int	smtputf8;	/* SMTPUTF8 (RFC 6531) */
	int	env8bit;	/* an envelope address is not ASCII */
};

/* What mime_prepare() decided. */
struct mime_plan {
	unsigned long long size;	/* octets mime_read() will produce */
	int	body8bit;	/* 8-bit octets go out: BODY=8BITMIME */
	int	smtputf8;	/* UTF-8 addresses/headers go out: SMTPUTF8 */
	int	converted;	/* anything differs from the input */
};

struct mime;

/*
 * A converter for the message whose fixed-up header is hdr[0..hlen)
 * (CRLF lines ending with the empty line, as header_fixup() makes it)
 * and whose body is m's.  Both must outlive the converter.  NULL on
 * memory exhaustion (EX_OSERR).
 */
struct mime	*mime_open(const char *, size_t, const struct msg *,
		    struct fail *);

/* The same for a body held in memory (CRLF lines): tests and fuzzing. */
struct mime	*mime_open_mem(const char *, size_t, const char *, size_t,
		    struct fail *);

/*
 * Decide, for a server offering caps, what to declare and what to
 * convert; the body is scanned (and, when something is converted, run
 * through the converter once to count it) so *plan is exact.  Reading
 * starts again from the beginning.  Fails with EX_UNAVAILABLE when a
 * non-ASCII address needs SMTPUTF8 and the server lacks it, EX_DATAERR
 * for a header field that cannot be folded, EX_IOERR reading the spool,
 * EX_SOFTWARE if the result would still not fit the server (a bug),
 * EX_OSERR.  0 or -1.
 */
int	mime_prepare(struct mime *, const struct mime_caps *,
	    struct mime_plan *, struct fail *);

/*
 * The next up to n octets of the message to send (CRLF lines, not
 * dot-stuffed): the smtp_source read callback.  The count, 0 at the
 * end, or -1 (EX_IOERR, EX_OSERR).
 */
ssize_t	mime_read(struct mime *, char *, size_t, struct fail *);

/* Release the converter; NULL is fine. */
void	mime_close(struct mime *);

#endif /* MIME_H */
