/*
 * libFuzzer harness for conf.c: the configuration file through
 * libconfuse (cfg_parse_buf) with relaymail's error handler, the comment
 * stripper, the ${ check and conf_finish's validation.
 *
 * The first octet says where a password line with a marker value goes:
 * before the fuzz text, after it, or both, in single or double quotes.
 * Properties:
 *   - conf_parse and conf_finish fail only with EX_CONFIG (or EX_OSERR),
 *     with one line that names the file;
 *   - the password never appears in a message, whatever syntax error
 *     is next to it (PITFALLS.md: libconfuse quotes the offending token),
 *     unless the fuzz text itself holds the marker (then it may be a key
 *     the user misspelt);
 *   - a parsed configuration is freed whole (LeakSanitizer).
 *
 *   make fuzz && .fuzz/conf tests/fuzz/corpus/conf
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "util.h"

#define CHECK(c)	do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", \
	__FILE__, __LINE__, #c); abort(); } } while (0)

#define MARK	"Zq7x9pw"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* libconfuse expands ${VAR} inside double quotes */
	setenv("RELAYMAIL_FUZZ", "value", 1);
	return 0;
}

static void
check_fail(const struct fail *f, int marked)
{
	CHECK(f->ex == 78 /* EX_CONFIG */ || f->ex == 71 /* EX_OSERR */);
	CHECK(f->msg[0] != '\0' && strpbrk(f->msg, "\r\n") == NULL);
	if (f->ex == 78)
		CHECK(strncmp(f->msg, "fuzz.conf", 9) == 0);
	if (marked && strstr(f->msg, MARK) != NULL) {
		fprintf(stderr, "leaked: %s\n", f->msg);
		CHECK(0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const lines[] = {
		"password = '" MARK "'\n",
		"password = \"" MARK "\"\n",
		"password = '" MARK,
		"password = " MARK "\n",
	};
	struct conf	 c;
	struct fail	 f;
	struct buf	 text = { 0 };
	FILE		*fp;
	int		 opt, marked;

	if (size == 0)
		return 0;
	opt = data[0];
	data++;
	size--;
	marked = memmem(data, size, MARK, strlen(MARK)) == NULL &&
	    memmem(data, size, "Zq7", 3) == NULL;
	if (opt & 4)
		CHECK(buf_adds(&text, lines[opt & 3]) == 0);
	CHECK(buf_add(&text, data, size) == 0);
	if (opt & 8)
		CHECK(buf_adds(&text, "\n") == 0 &&
		    buf_adds(&text, lines[(opt >> 4) & 3]) == 0);
	fp = text.len > 0 ? fmemopen(text.p, text.len, "r") :
	    fopen("/dev/null", "r");
	CHECK(fp != NULL);
	CHECK(conf_defaults(&c, &f) == 0);
	if (conf_parse(&c, fp, "fuzz.conf", &f) == -1)
		check_fail(&f, marked);
	else if (conf_finish(&c, &f) == -1)
		check_fail(&f, marked);
	else
		CHECK(c.port > 0 && c.port < 65536);
	fclose(fp);
	conf_free(&c);
	buf_wipe(&text);
	return 0;
}
