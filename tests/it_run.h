/*
 * tests/it_run.h - what the `tripline run` suites (it_run.c, it_run_restart.c) share: a
 * directory per test holding a generated day and its replay, a shell in it, the hub.
 */
#ifndef TL_IT_RUN_H
#define TL_IT_RUN_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "files.h"

#ifndef TL_TRIPLINE
#error "TL_TRIPLINE must name the tripline binary"
#endif

static char dir[] = "/tmp/tl-it-run-XXXXXX";

/* @cmd in the test's directory, as one shell list (background jobs included). */
static int sh(const char *cmd)
{
	char c[8192];

	(void)snprintf(c, sizeof(c), "{ %s\n}", cmd);
	return th_sh(dir, c);
}

static int tl(const char *args)
{
	char a[4096];

	(void)snprintf(a, sizeof(a), "%s 2>>stderr.txt", args);
	return th_run(dir, TL_TRIPLINE, a);
}

static char *slurp(const char *rel)
{
	char *buf = th_slurp(dir, rel, 1, NULL);

	cr_assert(ne(ptr, buf, NULL), "%s/%s", dir, rel);
	return buf;
}

/* The AOAI request logs of a generated day, as Event Hubs batches them, and their replay. */
static void setup(void)
{
	cr_assert(ne(ptr, mkdtemp(dir), NULL));
	cr_assert(eq(int,
		     tl("gen --format records --kind rr --hours 15 --scale 0.5 --out "
			"day.ndjson.zst --seed 3 --quiet"),
		     0));
	cr_assert(eq(
	    int, tl("replay --out rp --quiet --stats replay.json day.ndjson.zst >replay.out"), 0));
}

static void teardown(void)
{
	(void)sh("[ -f hub.pid ] && kill $(cat hub.pid) 2>/dev/null; "
		 "[ -f run.pid ] && kill -9 $(cat run.pid) 2>/dev/null; "
		 "[ -f writer.pid ] && kill $(cat writer.pid) 2>/dev/null; true");
	th_rmrf(dir);
}

/* Start `tripline hub` in the background with @args; its bootstrap address in hub.addr. */
static void start_hub(const char *args)
{
	char cmd[2048];

	(void)snprintf(cmd, sizeof(cmd),
		       "%s hub %s >hub.addr 2>hub.err & echo $! >hub.pid; "
		       "for i in $(seq 100); do [ -s hub.addr ] && exit 0; sleep 0.1; done; exit 1",
		       TL_TRIPLINE, args);
	cr_assert(eq(int, sh(cmd), 0), "the hub printed no address");
}

#endif /* TL_IT_RUN_H */
