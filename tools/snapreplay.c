/*
 * tools/snapreplay.c - `tripline replay SNAPSHOT`: re-run one evidence snapshot from its own
 * header and print the trigger events it gives.
 *
 * The header's replay state (tripline/state.h) gives the engine settings, the series' rules,
 * the prices and the series' seed; the engine starts from the seed at the header's "from"
 * minute and takes the snapshot's records from there on, in the order they were received,
 * except those the header lists as "not_counted" (the original run judged them late or too
 * far ahead). The watermark follows the records (the newest minus the lateness), held back so
 * that no record the original run counted is judged late here: what the original engine saw
 * of this series, it sees again, and it gives the same trigger.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tripline/decode.h>
#include <tripline/engine.h>
#include <tripline/snapshot.h>
#include <tripline/state.h>
#include <tripline/time.h>

#include "cli.h"
#include "evidence.h"
#include "report.h"

#define SNAPSHOT_TYPE "{\"type\":\"tripline.snapshot\""

bool tl_is_snapshot(const char *path)
{
	struct stat st;
	struct tl_snapshot_reader *rd;
	const char *line;
	size_t n;
	bool yes = false;

	if (strcmp(path, "-") == 0 || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	if (tl_snapshot_open(path, &rd) < 0)
		return false;
	if (tl_snapshot_next(rd, &line, &n) == 1)
		yes = n >= strlen(SNAPSHOT_TYPE) &&
		      memcmp(line, SNAPSHOT_TYPE, strlen(SNAPSHOT_TYPE)) == 0;
	tl_snapshot_close(rd);
	return yes;
}

/* The string value of the last "@key":"..." in @h (no escapes in what we look for). */
static const char *find_str(const char *h, const char *key, size_t *ret_n)
{
	char pat[64];
	const char *p = NULL, *q;

	(void)snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	for (q = h; (q = strstr(q, pat)) != NULL; q++)
		p = q;
	if (!p)
		return NULL;
	p += strlen(pat);
	if (!(q = strchr(p, '"')))
		return NULL;
	*ret_n = (size_t)(q - p);
	return p;
}

struct sr {
	struct tl_evbuf ev;
	uint8_t *skip; /* per event: the original run did not count it */
	size_t cap_skip;
	uint64_t malformed;
};

static void on_malformed(void *ud, const struct tl_malformed *m)
{
	struct sr *s = ud;

	(void)m;
	s->malformed++;
}

/* Write @n triggers; note whether the snapshot's incident fired among them. */
static int emit(struct tl_report *rep, struct tl_trigger *t, size_t n, const char *want,
		bool *found)
{
	char id[20];

	for (size_t i = 0; i < n; i++)
		if (t[i].type == TL_TRIGGER_FIRE &&
		    strcmp(tl_trigger_id(t[i].incident, id), want) == 0)
			*found = true;
	return n ? tl_report_triggers(rep, t, n) : 0;
}

/* What decoding the records needs, and where it is. */
struct recs {
	struct tl_decoder *dec;
	struct sr *sr;
	const uint64_t *skip_idx; /* sorted record numbers the original run did not count */
	size_t n_skip, next_skip;
	uint64_t record; /* records taken */
};

/* Decode one record of @n bytes at @p (TL_UNIT_PADDING readable after it). -ENOMEM or 0. */
static int take_record(struct recs *rs, const char *p, size_t n)
{
	struct sr *sr = rs->sr;
	const struct tl_unit u = { .data = p, .len = n, .line = rs->record + 1 };
	const size_t before = sr->ev.n;

	while (rs->next_skip < rs->n_skip && rs->skip_idx[rs->next_skip] < rs->record)
		rs->next_skip++;
	const bool skip = rs->next_skip < rs->n_skip && rs->skip_idx[rs->next_skip] == rs->record;

	rs->record++;
	if (tl_decoder_unit(rs->dec, &u, &sr->ev) < 0)
		return -ENOMEM;
	if (sr->ev.n > sr->cap_skip) {
		uint8_t *a = realloc(sr->skip, sr->ev.cap);

		if (!a)
			return -ENOMEM;
		sr->skip = a;
		sr->cap_skip = sr->ev.cap;
	}
	for (size_t i = before; i < sr->ev.n; i++)
		sr->skip[i] = skip;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The "not_counted" list of @h, sorted; NULL with *@ret_n 0 when empty. -1: malformed. */
static int not_counted(const char *h, uint64_t **ret, size_t *ret_n)
{
	const char *p = strstr(h, "\"not_counted\":[");
	uint64_t *a = NULL;
	size_t n = 0, cap = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!p)
		return 0;
	p += strlen("\"not_counted\":[");
	while (*p != ']') {
		char *end;
		unsigned long long v;

		if (*p < '0' || *p > '9')
			goto bad;
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno)
			goto bad;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 64;
			uint64_t *b = realloc(a, c * sizeof(*b));

			if (!b)
				goto bad;
			a = b;
			cap = c;
		}
		a[n++] = v;
		p = end;
		if (*p == ',')
			p++;
		else if (*p != ']')
			goto bad;
	}
	if (n)
		qsort(a, n, sizeof(*a), cmp_u64);
	*ret = a;
	*ret_n = n;
	return 0;
bad:
	free(a);
	return -1;
}

int tl_snapshot_replay(const char *path)
{
	struct tl_snapshot_reader *rd = NULL;
	struct tl_replay_state st = { 0 };
	struct tl_symtab *syms = NULL;
	struct tl_decoder *dec = NULL;
	struct tl_engine *e = NULL;
	struct tl_report rep;
	struct sr sr = { 0 };
	uint64_t *skip_idx = NULL;
	size_t n_skip = 0, line_n;
	char *header = NULL, *buf = NULL, err[300], want_id[24] = "";
	const char *line;
	int r, status = TL_EXIT_IO;
	size_t cap_buf = 0;

	tl_report_init(&rep, NULL, STDOUT_FILENO);
	if ((r = tl_snapshot_open(path, &rd)) < 0) {
		tl_err("'%s': %s", path, tl_strerror(r));
		goto out;
	}
	if ((r = tl_snapshot_next(rd, &line, &line_n)) != 1 || !(header = strndup(line, line_n))) {
		tl_err("'%s': %s", path, r < 0 ? tl_snapshot_errmsg(rd) : "no header");
		goto out;
	}
	size_t n;
	const char *text = find_str(header, "replay_state", &n);

	if (!text) {
		tl_err("'%s': the snapshot's header has no replay_state", path);
		goto out;
	}
	if ((r = tl_state_decode(text, n, &st, err, sizeof(err))) < 0) {
		tl_err("'%s': line 1: %s", path, r == -ENOMEM ? "out of memory" : err);
		goto out;
	}
	if (not_counted(header, &skip_idx, &n_skip) < 0) {
		tl_err("'%s': line 1: not_counted: expected a list of record numbers", path);
		goto out;
	}
	const char *id = find_str(header, "incident_id", &n);

	if (id && n < sizeof(want_id))
		(void)snprintf(want_id, sizeof(want_id), "%.*s", (int)n, id);

	/* an engine as the original run's was, for this series */
	const struct tl_engine_opts eo = { .lateness_ns = st.lateness_ns,
					   .bucket_ns = st.bucket_ns,
					   .horizon_ns = st.horizon_ns,
					   .min_history_ns = st.min_history_ns,
					   .hold_ns = st.hold_ns,
					   .update_every_ns = st.update_every_ns,
					   .prices = st.prices,
					   .n_prices = st.n_prices,
					   .rules = &st.rules };
	uint32_t res, dep;

	syms = tl_symtab_new(1u << 16);
	e = syms ? tl_engine_new(&eo, syms) : NULL;
	dec = syms ? tl_decoder_new(syms, on_malformed, &sr, &r) : NULL;
	if (!e || !dec || tl_symtab_intern(syms, st.resource, strlen(st.resource), &res) < 0 ||
	    tl_symtab_intern(syms, st.deployment, strlen(st.deployment), &dep) < 0) {
		tl_err("%s", dec || !syms || !e ? "out of memory" : tl_strerror(r));
		goto out;
	}
	rep.syms = syms;
	const struct tl_event key = { .series = tl_series_key(tl_symtab_fold_hash(syms, res),
							      tl_symtab_fold_hash(syms, dep)),
				      .resource = res,
				      .deployment = dep };

	if ((r = tl_engine_seed(e, &key, st.seed, st.from)) < 0) {
		tl_err("'%s': the snapshot's series state does not fit its start: %s", path,
		       tl_strerror(r));
		goto out;
	}

	/*
	 * The records, decoded: every line after the header and the lines of our own types
	 * that follow it (the changes), except a last line that is the writer's trailer. Each
	 * line is held until the next one shows whether it was the last.
	 */
	struct recs rs = { .dec = dec, .sr = &sr, .skip_idx = skip_idx, .n_skip = n_skip };
	bool prefix = true, held = false;
	size_t held_n = 0;
	uint64_t omitted = 0;

	while ((r = tl_snapshot_next(rd, &line, &line_n)) == 1) {
		if (prefix && line_n >= 18 && memcmp(line, "{\"type\":\"tripline.", 18) == 0)
			continue;
		prefix = false;
		if (held && take_record(&rs, buf, held_n) < 0)
			goto oom;
		if (line_n + TL_UNIT_PADDING > cap_buf) {
			char *b = realloc(buf, line_n + TL_UNIT_PADDING);

			if (!b)
				goto oom;
			buf = b;
			cap_buf = line_n + TL_UNIT_PADDING;
		}
		memcpy(buf, line, line_n);
		memset(buf + line_n, 0, TL_UNIT_PADDING);
		held = true;
		held_n = line_n;
	}
	if (r < 0) {
		tl_err("%s", tl_snapshot_errmsg(rd));
		goto out;
	}
	if (held) {
		const char *trailer = "{\"type\":\"tripline.snapshot.end\"";
		const char *o;

		if (held_n >= strlen(trailer) && memcmp(buf, trailer, strlen(trailer)) == 0) {
			if ((o = strstr(buf, "\"omitted\":")) != NULL)
				omitted = strtoull(o + strlen("\"omitted\":"), NULL, 10);
		} else if (take_record(&rs, buf, held_n) < 0) {
			goto oom;
		}
	}
	const uint64_t record = rs.record;

	if (!tl_snapshot_is_complete(rd))
		tl_info(
		    "tripline replay: '%s' ends without its trailer: the snapshot is incomplete",
		    path);
	if (omitted)
		tl_info("tripline replay: '%s': %llu records were left out by the snapshot's size "
			"bound; the re-run may not give its trigger",
			path, (unsigned long long)omitted);

	/* the watermark a record may not be judged late against: the oldest one still to come */
	const int64_t b = st.bucket_ns;
	int64_t *hold = malloc((sr.ev.n + 1) * sizeof(*hold));

	if (!hold)
		goto oom;
	hold[sr.ev.n] = INT64_MAX;
	for (size_t i = sr.ev.n; i-- > 0;) {
		const struct tl_event *x = &sr.ev.ev[i];
		const bool used = x->series == key.series && x->time_ns >= st.from && !sr.skip[i];

		hold[i] = used && x->time_ns < hold[i + 1] ? x->time_ns : hold[i + 1];
	}
	int64_t newest = INT64_MIN;
	bool found = false;
	size_t nt;
	struct tl_trigger *t;

	for (size_t i = 0; i < sr.ev.n; i++) {
		const struct tl_event *x = &sr.ev.ev[i];

		if (x->series != key.series || x->time_ns < st.from || sr.skip[i])
			continue;
		if (x->time_ns > newest)
			newest = x->time_ns;
		int64_t w = newest - st.lateness_ns;

		if (hold[i] < w)
			w = hold[i];
		tl_engine_advance(e, tl_floor_div(w, b) * b);
		t = tl_engine_triggers(e, &nt);
		if (emit(&rep, t, nt, want_id, &found) < 0)
			break;
		tl_engine_clear_triggers(e);
		tl_engine_push(e, x);
	}
	free(hold);
	/* to where the original run had closed when it wrote the snapshot (a rule can fire in
	 * buckets after the series' last record), and past that record */
	int64_t end = newest == INT64_MIN ? INT64_MIN : (tl_floor_div(newest, b) + 1) * b;
	const char *until = find_str(header, "until", &n);
	int64_t until_ns;

	if (until && tl_time_parse(until, n, &until_ns) == 0 && until_ns > end &&
	    until_ns - st.from < 2 * TL_NS_PER_DAY)
		end = until_ns;
	if (end != INT64_MIN) {
		tl_engine_advance(e, end);
		t = tl_engine_triggers(e, &nt);
		(void)emit(&rep, t, nt, want_id, &found);
		tl_engine_clear_triggers(e);
	}
	if (rep.err < 0) {
		tl_err("writing trigger events to stdout failed: %s", tl_strerror(rep.err));
		goto out;
	}

	const struct tl_engine_counts *c = tl_engine_get_counts(e);

	tl_info("tripline replay: snapshot %s: %llu records, %llu events re-run from %s, %llu "
		"trigger events; incident %s %s",
		path, (unsigned long long)record, (unsigned long long)c->decoded,
		tl_time_format(st.from, err), (unsigned long long)rep.events, want_id,
		found ? "reproduced" : "NOT reproduced");
	status = found ? TL_EXIT_OK : TL_EXIT_NOT_REPRODUCED;
	goto out;
oom:
	tl_err("out of memory");
out:
	free(skip_idx);
	free(header);
	free(buf);
	free(sr.skip);
	tl_evbuf_fini(&sr.ev);
	tl_report_fini(&rep);
	tl_engine_free(e);
	tl_decoder_free(dec);
	tl_symtab_free(syms);
	tl_state_fini(&st);
	tl_snapshot_close(rd);
	return status;
}
