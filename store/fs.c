/*
 * store/fs.c - file system steps the stores share (see tripline/fs.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tripline/fs.h>

int tl_mkdir_p(const char *dir)
{
	char p[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char c = p[i];

		p[i] = '\0';
		if (mkdir(p, 0755) == 0) {
			/* the new entry must survive a crash: sync the directory holding it */
			char *slash = strrchr(p, '/');
			int fd;

			if (slash == p)
				fd = open("/", O_RDONLY | O_DIRECTORY);
			else if (slash) {
				*slash = '\0';
				fd = open(p, O_RDONLY | O_DIRECTORY);
				*slash = '/';
			} else {
				fd = open(".", O_RDONLY | O_DIRECTORY);
			}
			if (fd >= 0) {
				(void)fsync(fd);
				close(fd);
			}
		} else if (errno != EEXIST) {
			return -errno;
		}
		p[i] = c;
	}
	return 0;
}

int tl_write_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}
