/*
 * tests/it_run_restart.c - `tripline run` stopped and started again, over the embedded hub:
 * killed with SIGKILL mid-stream, a run loses no trigger event and repeats none (its
 * baselines come back from the checkpoint, the journal knows what was told); a snapshot
 * whose window a restart cut says from when its records are whole and why it does not
 * reproduce; a kill before a trigger's snapshot is written does not lose the snapshot.
 */
#include "it_run.h"

TestSuite(run_restart, .init = setup, .fini = teardown, .timeout = 300);

/* A consumer group member that gives up on a killed one after 6 s, not 45: fast.yaml. */
static void write_fast_config(void)
{
	cr_assert(eq(int,
		     sh("printf 'source:\\n  kafka:\\n    session.timeout.ms: 6000\\n' "
			">fast.yaml"),
		     0));
}

/*
 * A run (fast.yaml, into o/) that resumes from the checkpoint there and stops once every
 * partition has been at its end for 3 s: its stdout in b.out; its stderr, in b.err, must say
 * it restored the checkpoint.
 */
static void resume_to_the_end(void)
{
	cr_assert(
	    eq(int,
	       sh(TL_TRIPLINE " run --config fast.yaml --brokers $(head -1 hub.addr) --out o "
			      "--checkpoint-every 1s --metrics off --exit-when-idle 3s >b.out "
			      "2>b.err"),
	       0));
	char *err = slurp("b.err");

	cr_expect(ne(ptr, strstr(err, "restored detector state"), NULL), "%s", err);
	free(err);
}

Test(run_restart, kill_9_and_restart_neither_loses_nor_repeats_a_trigger)
{
	char *want = slurp("replay.out");

	start_hub("--partitions 4 --feed day.ndjson.zst --speed 0");
	/* the killed member leaves the group after the session timeout: 6 s, not 45 */
	write_fast_config();
	/* first run: killed without warning once it has told its first trigger event */
	cr_assert(eq(int,
		     sh(TL_TRIPLINE
			" run --config fast.yaml --brokers $(head -1 hub.addr) --out o "
			"--checkpoint-every 1s --metrics off >a.out 2>a.err & echo $! >run.pid; "
			"for i in $(seq 600); do [ -s a.out ] && break; sleep 0.1; done; "
			"sleep 1; kill -9 $(cat run.pid); wait; [ -s a.out ]"),
		     0),
		  "the first run told nothing before the kill");
	/* second run: resumes from the checkpoint and stops at the end of the stream */
	resume_to_the_end();
	cr_assert(eq(int, sh("cat a.out b.out >both.out"), 0));
	char *got = slurp("both.out");

	cr_expect(eq(str, got, want), "killed and restarted:\n%s\nreplay:\n%s", got, want);
	free(got);
	free(want);
}

/*
 * A run stopped while the latency incident's window (14:02 to 14:07) is under way, and a run
 * that picks up from its checkpoint: the trigger events are the replay's, and the incident's
 * snapshot, written by the second run, which never saw the records the first one read, says
 * from when its records are whole and why it is not reproducible, instead of claiming so.
 */
Test(run_restart, a_snapshot_says_when_a_restart_cut_its_window)
{
	char *want = slurp("replay.out");

	/* the premise: the day's latency trigger and its window */
	cr_assert(ne(ptr,
		     strstr(want, "\"rule\":\"latency\",\"severity\":\"Sev2\",\"resource\":"
				  "\"AOAI-CONTOSO-EUS2\",\"deployment\":\"support-gpt4o\""),
		     NULL),
		  "%s", want);
	cr_assert(ne(ptr, strstr(want, "\"window_start\":\"2025-11-04T14:02:00.000Z\""), NULL),
		  "%s", want);
	/* the same day, uncompressed; the first envelope with a record from 14:05 on */
	cr_assert(eq(int,
		     tl("gen --format records --kind rr --hours 15 --scale 0.5 --out day.records "
			"--seed 3 --quiet"),
		     0));
	cr_assert(eq(int,
		     sh("grep -n -m1 '^{\"records\":\\[{[^]]*\"time\": \"2025-11-04T14:0[5-9]' "
			"day.records | cut -d: -f1 >split && [ \"$(cat split)\" -gt 100 ]"),
		     0));
	/* the hub reads a pipe: the day up to there, then the rest once `go` exists (written
	 * only after the hub has opened it for good: its first open is a check) */
	cr_assert(eq(int,
		     sh("mkfifo feed.fifo && { exec 7>feed.fifo; "
			"until grep -q feeding hub.err 2>/dev/null; do sleep 0.1; done; "
			"head -n $(($(cat split) - 1)) day.records >&7; "
			"until [ -e go ]; do sleep 0.1; done; "
			"tail -n +$(cat split) day.records >&7; } >/dev/null 2>&1 & "
			"echo $! >writer.pid"),
		     0));
	start_hub("--partitions 4 --feed feed.fifo --speed 0");
	write_fast_config();
	/* first run: reads what there is and stops when idle, with a checkpoint */
	cr_assert(eq(int,
		     sh(TL_TRIPLINE " run --config fast.yaml --brokers $(head -1 hub.addr) --out o "
				    "--checkpoint-every 1s --metrics off --exit-when-idle 3s "
				    ">a.out 2>a.err"),
		     0));
	/* second run: the rest of the day, from the checkpoint */
	cr_assert(eq(int, sh("touch go"), 0));
	resume_to_the_end();
	char *a = slurp("a.out"), *b = slurp("b.out");

	cr_expect(eq(ptr, strstr(a, "\"rule\":\"latency\""), NULL), "the first run: %s", a);
	cr_assert(ne(ptr, strstr(b, "\"type\":\"trigger\",\"incident_id\":\"tl-"), NULL),
		  "the second run: %s", b);
	cr_assert(eq(int, sh("cat a.out b.out >both.out"), 0));
	char *got = slurp("both.out");

	cr_expect(eq(str, got, want));
	/* the latency incident's snapshot */
	cr_assert(eq(int,
		     sh("grep '\"rule\":\"latency\"' b.out | grep '\"type\":\"trigger\"' | "
			"sed 's/.*\"incident_id\":\"\\([^\"]*\\)\".*/\\1/' >lat.id && " TL_TRIPLINE
			" snapshot show o/snapshots/$(cat lat.id).ndjson.zst >show.txt"),
		     0));
	char *show = slurp("show.txt");
	const char *whole = strstr(show, "whole after  "), *from = strstr(show, "re-run from  ");

	cr_assert(ne(ptr, (void *)whole, NULL), "%s", show);
	cr_assert(ne(ptr, (void *)from, NULL), "%s", show);
	/* the re-run starts after the time the first run read up to, in a minute of its own */
	cr_expect(lt(int, strncmp(whole + 13, from + 13, 24), 0), "%s", show);
	cr_expect(ne(ptr,
		     strstr(show, "reproducible no: tripline restarted from a checkpoint inside "
				  "the trigger's window"),
		     NULL),
		  "%s", show);
	free(show);
	free(got);
	free(b);
	free(a);
	free(want);
}

/*
 * Killed while a trigger's snapshot waits for its post window (5 minutes of event time after
 * the trigger; the hub plays the logs at 60x, so 5 s): the restart writes the snapshot the
 * trigger event names, which a checkpoint taken after the trigger would have lost for good.
 */
Test(run_restart, a_kill_before_the_snapshot_is_written_does_not_lose_it)
{
	/* 09:00 to 09:25 of the day: its errors incident fires at 09:11:30 */
	cr_assert(eq(int,
		     tl("gen --format records --kind rr --hours 15 --scale 0.5 --out day.records "
			"--seed 3 --quiet"),
		     0));
	cr_assert(eq(int,
		     sh("a=$(grep -n -m1 '^{\"records\":\\[{[^]]*\"time\": \"2025-11-04T09:0' "
			"day.records | cut -d: -f1) && "
			"b=$(grep -n -m1 '^{\"records\":\\[{[^]]*\"time\": \"2025-11-04T09:2[5-9]' "
			"day.records | cut -d: -f1) && sed -n \"${a},$((b - 1))p\" day.records "
			">part.records"),
		     0));
	cr_assert(eq(int, tl("replay --out rpp --quiet part.records >part.want"), 0));
	char *want = slurp("part.want");

	cr_assert(ne(ptr, strstr(want, "\"type\":\"trigger\",\"incident_id\":\"tl-"), NULL), "%s",
		  want);
	start_hub("--partitions 4 --feed part.records --speed 60");
	write_fast_config();
	/* first run: killed 1.5 s (90 s of event time) after it told the trigger */
	cr_assert(
	    eq(int,
	       sh(TL_TRIPLINE " run --config fast.yaml --brokers $(head -1 hub.addr) --out o "
			      "--checkpoint-every 1s --metrics off >a.out 2>a.err & "
			      "echo $! >run.pid; "
			      "for i in $(seq 1200); do [ -s a.out ] && break; sleep 0.05; done; "
			      "sleep 1.5; kill -9 $(cat run.pid); wait; [ -s a.out ]"),
	       0),
	    "the first run told nothing");
	cr_assert(
	    eq(int,
	       sh("grep '\"type\":\"trigger\"' a.out | "
		  "sed 's/.*\"incident_id\":\"\\([^\"]*\\)\".*/\\1/' >inc.id && [ -s inc.id ]"),
	       0));
	cr_assert(ne(int, sh("[ -e o/snapshots/$(cat inc.id).ndjson.zst ]"), 0),
		  "the snapshot was written before the kill: the test's timing did not hold");
	/* second run: from the checkpoint to the end of the feed */
	resume_to_the_end();
	cr_expect(eq(int,
		     sh(TL_TRIPLINE " snapshot show o/snapshots/$(cat inc.id).ndjson.zst "
				    ">show.txt"),
		     0),
		  "the trigger's snapshot is missing after the restart");
	cr_assert(eq(int, sh("cat a.out b.out >both.out"), 0));
	char *got = slurp("both.out");

	cr_expect(eq(str, got, want));
	free(got);
	free(want);
}
