/*
 * store/deadletter.c - the dead-letter file (see tripline/deadletter.h). Lines are built in a
 * buffer and written in blocks; close fsyncs, so a finished run's malformed records survive a
 * crash of the machine. Thread: one writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tripline/buf.h>
#include <tripline/deadletter.h>

#define TL_DL_FLUSH (256u * 1024)

struct tl_deadletter {
	int fd;
	int err;
	uint64_t count;
	struct tl_buf buf;
};

static int open_mode(const char *path, int mode, struct tl_deadletter **ret_dl)
{
	struct tl_deadletter *dl = calloc(1, sizeof(*dl));

	if (!dl)
		return -ENOMEM;
	dl->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | mode, 0640);
	if (dl->fd < 0) {
		int r = -errno;

		free(dl);
		return r;
	}
	*ret_dl = dl;
	return 0;
}

int tl_deadletter_open(const char *path, struct tl_deadletter **ret_dl)
{
	return open_mode(path, O_TRUNC, ret_dl);
}

int tl_deadletter_open_append(const char *path, struct tl_deadletter **ret_dl)
{
	return open_mode(path, O_APPEND, ret_dl);
}

static int flush(struct tl_deadletter *dl)
{
	size_t off = 0;

	while (off < dl->buf.n && dl->err == 0) {
		ssize_t n = write(dl->fd, dl->buf.p + off, dl->buf.n - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			dl->err = -errno;
		else
			off += (size_t)n;
	}
	tl_buf_reset(&dl->buf);
	return dl->err;
}

int tl_deadletter_write(struct tl_deadletter *dl, const struct tl_dead_record *r)
{
	struct tl_buf *b = &dl->buf;

	if (dl->err)
		return dl->err;
	tl_buf_puts(b, "{\"input\":");
	tl_buf_json_str(b, r->input, strlen(r->input));
	if (r->partition >= 0)
		tl_buf_printf(b, ",\"partition\":%d", (int)r->partition);
	tl_buf_printf(b, ",\"offset\":%llu", (unsigned long long)r->offset);
	if (r->line)
		tl_buf_printf(b, ",\"line\":%llu", (unsigned long long)r->line);
	tl_buf_puts(b, ",\"reason\":");
	tl_buf_json_str(b, r->reason, strlen(r->reason));
	if (tl_utf8_valid(r->raw, r->raw_len)) {
		tl_buf_puts(b, ",\"raw\":");
		tl_buf_json_str(b, r->raw, r->raw_len);
	} else {
		tl_buf_puts(b, ",\"raw_base64\":\"");
		tl_buf_base64(b, r->raw, r->raw_len);
		tl_buf_puts(b, "\"");
	}
	if (r->truncated)
		tl_buf_puts(b, ",\"truncated\":true");
	tl_buf_puts(b, "}\n");
	if (!tl_buf_ok(b)) {
		dl->err = -ENOMEM;
		return dl->err;
	}
	dl->count++;
	if (b->n >= TL_DL_FLUSH)
		return flush(dl);
	return 0;
}

uint64_t tl_deadletter_count(const struct tl_deadletter *dl)
{
	return dl->count;
}

int tl_deadletter_close(struct tl_deadletter *dl)
{
	int r;

	if (!dl)
		return 0;
	r = flush(dl);
	if (r == 0 && fsync(dl->fd) < 0)
		r = -errno;
	if (close(dl->fd) < 0 && r == 0)
		r = -errno;
	tl_buf_fini(&dl->buf);
	free(dl);
	return r;
}

int tl_deadletter_sync(struct tl_deadletter *dl)
{
	int r = flush(dl);

	if (r == 0 && fdatasync(dl->fd) < 0)
		r = dl->err = -errno;
	return r;
}
