/*
 * static_nss.c -- linked into relaymail-static only (make static).
 *
 * A statically linked glibc still reads nsswitch.conf, and for any
 * source other than "files" and "dns" (built into libc since 2.34) it
 * dlopen()s the shared NSS module, which drags in the shared libc
 * beside the static one: Debian's "passwd: files systemd" then crashes
 * getpwuid() for a uid without a passwd entry (a container's uid, the
 * case SPEC §2 names) inside libnss_systemd.  Before main runs, keep
 * every lookup relaymail makes to the sources a static binary carries.
 */
#include <nss.h>

__attribute__((constructor)) static void
static_nss(void)
{
	static const char *const db[][2] = {
		{ "passwd", "files" },
		{ "group", "files" },
		{ "hosts", "files dns" },
		{ "services", "files" },
	};
	size_t	i;

	for (i = 0; i < sizeof(db) / sizeof(db[0]); i++)
		__nss_configure_lookup(db[i][0], db[i][1]);
}
