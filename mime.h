/*
 * mime.h -- 8-bit and long-line handling, encoded-words and the base64
 * codec (RFC 2045, RFC 2047).  Grows into the MIME walker of SPEC §2.4.
 */
#ifndef MIME_H
#define MIME_H

#include <stddef.h>

struct buf;

/* Append the base64 encoding of p[0..n) (RFC 2045 §6.8, no line
 * breaks).  0 or -1 on memory exhaustion. */
int	mime_base64(const unsigned char *, size_t, struct buf *);

/*
 * Append s as RFC 2047 "B" encoded-words in UTF-8, each at most 75
 * octets (§2), separated by a folding CRLF SP, never splitting a UTF-8
 * sequence.  0 or -1 on memory exhaustion.
 */
int	mime_encode_words(const char *, struct buf *);

/* Does s contain an octet >= 0x80? */
int	mime_has_8bit(const char *, size_t);

#endif /* MIME_H */
