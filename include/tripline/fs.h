/*
 * tripline/fs.h - file system steps the stores share.
 */
#ifndef TL_FS_H
#define TL_FS_H
#include <stddef.h>

/**
 * tl_mkdir_p() - create @dir and its parents as needed; each directory created is fsync'd
 * in its parent, so it survives a crash with what is written into it.
 * Return: 0 or -errno. Thread: any.
 */
int tl_mkdir_p(const char *dir);

/**
 * tl_write_all() - write the @n bytes at @p to @fd, again after short writes and EINTR.
 * Return: 0 or -errno (some bytes may have been written). Thread: any.
 */
int tl_write_all(int fd, const void *p, size_t n);

#endif /* TL_FS_H */
