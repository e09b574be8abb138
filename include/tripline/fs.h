/*
 * tripline/fs.h - file system steps the stores share.
 */
#ifndef TL_FS_H
#define TL_FS_H

/**
 * tl_mkdir_p() - create @dir and its parents as needed; each directory created is fsync'd
 * in its parent, so it survives a crash with what is written into it.
 * Return: 0 or -errno. Thread: any.
 */
int tl_mkdir_p(const char *dir);

#endif /* TL_FS_H */
