/*
 * tests/fuzz/fuzz_outbox.c - fuzz the outbox's reading of its files at open
 * (store/outbox.c). The input is a flag byte, then (if bit 0 is set) 16 bytes of ack file,
 * then the log: they become outbox/s.log and s.ack in a temporary directory (on tmpfs when
 * there is one: every done() fsyncs), the log a second time as o.log, a sink no longer
 * configured. Invariants: the open fails only with TL_ECORRUPT (and only when an ack file
 * was written) or -errno; the note says the cut when the log was cut and names o.log; every
 * pending entry peeks back whole, within TL_OUTBOX_MAX_ENTRY, with consecutive seqs, and is
 * done once; afterwards nothing is pending, a reopen finds the log clean, and an append gets
 * a seq after every one seen.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tripline/outbox.h>

#include "fuzz.h"

static char root[64];

static void put_file(const char *name, const uint8_t *p, size_t n)
{
	char path[256];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/" TL_OUTBOX_SUBDIR "/%s", root, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(n == 0 || write(fd, p, n) == (ssize_t)n);
	close(fd);
}

static void remove_file(const char *name)
{
	char path[256];

	(void)snprintf(path, sizeof(path), "%s/" TL_OUTBOX_SUBDIR "/%s", root, name);
	(void)unlink(path);
}

static void remove_root(void)
{
	static const char *const files[] = { "s.log", "s.ack", "s.ack.tmp", "o.log", "lock" };
	char path[128];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		remove_file(files[i]);
	(void)snprintf(path, sizeof(path), "%s/" TL_OUTBOX_SUBDIR, root);
	(void)rmdir(path);
	(void)rmdir(root);
}

static void make_root(void)
{
	char path[128];

	if (root[0])
		return;
	(void)snprintf(root, sizeof(root), "%s/tl-fuzz-outbox-XXXXXX",
		       access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	FUZZ_CHECK(mkdtemp(root) != NULL);
	(void)snprintf(path, sizeof(path), "%s/" TL_OUTBOX_SUBDIR, root);
	FUZZ_CHECK(mkdir(path, 0700) == 0);
	FUZZ_CHECK(atexit(remove_root) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "s" };
	struct tl_outbox_entry e = { 0 };
	struct tl_outbox *o = NULL;
	char note[2048], err[512];
	const bool with_ack = size > 0 && (data[0] & 1);
	uint64_t seq = 0, first = 0;
	size_t pending, n = 0;
	int r;

	make_root();
	remove_file("s.ack");
	remove_file("s.ack.tmp");
	if (size > 0) {
		data++;
		size--;
	}
	if (with_ack) {
		put_file("s.ack", data, size < 16 ? size : 16);
		data += size < 16 ? size : 16;
		size -= size < 16 ? size : 16;
	}
	put_file("s.log", data, size);
	put_file("o.log", data, size);

	r = tl_outbox_open(root, names, 1, &o, note, sizeof(note), err, sizeof(err));
	if (r < 0) {
		FUZZ_CHECK(o == NULL);
		FUZZ_CHECK(r == TL_ECORRUPT ? with_ack : r > -4096);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_CHECK(r != TL_ECORRUPT || strstr(err, "/s.ack: ") != NULL);
		return 0;
	}
	FUZZ_CHECK(memchr(note, '\0', sizeof(note)) != NULL);
	FUZZ_CHECK(strstr(note, "sink 'o' is no longer configured") != NULL);
	pending = tl_outbox_pending(o, 0);
	while ((r = tl_outbox_peek(o, 0, &e)) == 1) {
		FUZZ_CHECK(e.data.n > 0 && e.data.n <= TL_OUTBOX_MAX_ENTRY);
		FUZZ_CHECK(n == 0 || e.seq == seq + 1);
		if (n == 0)
			first = e.seq;
		seq = e.seq;
		FUZZ_CHECK(tl_outbox_done(o, 0, seq) == 0);
		FUZZ_CHECK(tl_outbox_done(o, 0, seq) == -EINVAL);
		n++;
	}
	FUZZ_CHECK(r == 0); /* the file was checked at open and nobody touched it since */
	FUZZ_CHECK(n == pending && tl_outbox_pending(o, 0) == 0);
	FUZZ_CHECK(n == 0 || first >= 1);
	FUZZ_CHECK(tl_outbox_append(o, 0, "x", 1, 1) == 0);
	FUZZ_CHECK(tl_outbox_sync(o) == 0);
	tl_outbox_close(o);

	o = NULL;
	FUZZ_CHECK(tl_outbox_open(root, names, 1, &o, note, sizeof(note), err, sizeof(err)) == 0);
	FUZZ_CHECK(strstr(note, "s.log") == NULL); /* nothing left to cut */
	FUZZ_CHECK(tl_outbox_pending(o, 0) == 1);
	FUZZ_CHECK(tl_outbox_peek(o, 0, &e) == 1);
	FUZZ_CHECK(e.data.n == 1 && e.data.p[0] == 'x' && e.enqueued_ns == 1);
	FUZZ_CHECK(n == 0 || e.seq == seq + 1);
	tl_outbox_close(o);
	tl_buf_fini(&e.data);
	return 0;
}
