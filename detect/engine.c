/*
 * detect/engine.c - the detection engine (see tripline/engine.h).
 *
 * Per series (resource, deployment), in one block allocated when the series first appears:
 *  - fine rings of R buckets (default 10 s), one array per counter (structure of arrays):
 *    requests, 4xx, 429, 5xx, guardrail checked/failed, refusal checked/refused, and spend;
 *    each window rule keeps running sums, which a bucket close slides by one bucket;
 *  - a latency histogram per open minute, taken from a pool when the minute's first request
 *    arrives and returned when the minute closes;
 *  - minute rings over the baseline horizon (default 24 h): the p95 bin and the refusal-rate
 *    code of each minute, and counting histograms of those codes, so a baseline median is one
 *    walk over a small table; a minute joins the baseline once it has left the evaluation
 *    window, and never if the rule was breaching or firing in it;
 *  - the state of each rule (ok, pending, firing) and the cost accumulators.
 * Buckets close when the watermark passes their end; each close evaluates the window rules,
 * each minute close the latency rule. Only series with recent data or a rule not ok are
 * visited; an idle series catches up in one step when its next event arrives.
 *
 * Nothing here reads a clock, allocates per event, or depends on the order of series: the
 * triggers of one close are sorted by the caller. Thread: the owning shard.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/engine.h>
#include <tripline/hash.h>
#include <tripline/hist.h>
#include <tripline/time.h>

#define TL_PRICE_CACHE 256
#define MINUTE         TL_NS_PER_MIN
#define HOUR           TL_NS_PER_HOUR
#define DAY            TL_NS_PER_DAY
#define REF_CODES      256
#define COST_MINUTES   64 /* the ring of per-minute spend (the rate window is at most this) */
#define COST_HOURS     24
#define SPEND_AT       TL_SEED_MINUTES /* the ring of spend sums at minute ends (seeds) */
_Static_assert(TL_SEED_MINUTES == 64, "series.at_valid has a bit per minute of the ring");
#define MAX_OPEN_MINUTES 16

enum { C_REQ, C_4XX, C_429, C_5XX, C_GCHK, C_GFAIL, C_RCHK, C_REF, C_COUNT };

enum { ST_OK = 0, ST_PENDING, ST_FIRING };

/* The window rules and the counters they divide. */
enum { W_GUARDRAIL, W_ERRORS, W_THROTTLING, W_REFUSAL, W_COUNT };
static const int win_counters[W_COUNT][2] = {
	[W_GUARDRAIL] = { C_GFAIL, C_GCHK },
	[W_ERRORS] = { C_5XX, C_REQ },
	[W_THROTTLING] = { C_429, C_REQ },
	[W_REFUSAL] = { C_REF, C_RCHK },
};

/* The counter a request's status adds to besides C_REQ (C_COUNT: none), by tl_status_class(). */
static inline int status_counter(uint16_t status)
{
	switch (tl_status_class(status)) {
	case 4:
		return C_4XX;
	case 29:
		return C_429;
	case 5:
		return C_5XX;
	default:
		return C_COUNT;
	}
}

/* minute flags */
enum { MF_LAT_EXCL = 1, MF_REF_EXCL = 2, MF_LAT_IN = 4, MF_REF_IN = 8, MF_LAT_BREACH = 16 };

struct price_slot {
	uint32_t model, version; /* symbols; model 0 = empty slot */
	int32_t price;           /* index into prices, -1 = none */
};

struct rule_state {
	uint8_t state;
	uint8_t severity;
	int64_t onset; /* when the condition started holding (pending or firing) */
	int64_t fired_at;
	int64_t false_since; /* firing: when the condition stopped holding, INT64_MIN if it holds */
	int64_t last_update;
	uint64_t incident;
	struct tl_impact impact; /* firing: the buckets closed since it fired */
};

/* A slot of the series index: key and block on one line, one memory access per lookup. */
struct index_slot {
	uint64_t key;
	struct series *s; /* NULL = empty */
};

struct open_minute {
	int64_t minute; /* start time, INT64_MIN = free */
	struct tl_hist *h;
};

struct series {
	/* what every event reads or writes, on the first lines */
	uint64_t key;
	uint32_t idx;        /* position in e->series */
	uint32_t active_pos; /* in e->active, UINT32_MAX when idle */
	int64_t last_close;  /* end of the last bucket closed for this series */
	int64_t last_data;   /* start of the latest bucket that got data */
	uint32_t *cnt;       /* C_COUNT x R */
	int64_t *spend;      /* R: nano-USD, so a bucket's sum is the same in any order */
	uint8_t om_last;     /* the open minute used last: most events fall in it */
	int64_t cost_nusd;   /* st.cost_usd, summed exactly in nano-USD */
	struct tl_series_stats st;
	struct open_minute om[MAX_OPEN_MINUTES];
	/* what the closing of buckets uses */
	const struct tl_rules *rules;
	int64_t last_minute;      /* start of the last minute closed */
	uint32_t lat_consec;      /* consecutive breaching minutes */
	uint64_t win[W_COUNT][2]; /* running window sums per window rule: numerator, denominator */
	uint32_t wb[W_COUNT];     /* each window rule's width in buckets */
	bool ref_breach_minute;   /* the refusal rule breached or fired in the open minute */
	/* cost */
	int64_t day; /* start of the UTC day being summed */
	double day_spend, hour_spend, minute_spend;
	uint8_t cost_level; /* warn shares crossed as of the last close; 0 when the day turns */
	uint8_t hours_n;
	bool hour_spike;
	float hour_spike_value, hour_median;
	uint32_t lat_base_n, ref_base_n;
	int32_t ref_med;  /* median code of ref_base, -1 when it changed since */
	int64_t recent_m; /* the minute recent_spend was summed up to; INT64_MIN = none, or
			   * min_spend changed since */
	double recent_spend;
	struct rule_state rs[TL_RULE_COUNT];
	/* arrays, in the same block */
	uint16_t *lat;          /* H: 1 + p95 bin of each minute, 0 = no data */
	uint8_t *ref;           /* H: refusal-rate code of each minute, 0 = no data */
	uint8_t *mflag;         /* H */
	uint16_t *lat_base;     /* TL_HIST_BINS: counts of codes in the baseline */
	uint16_t *ref_base;     /* REF_CODES */
	float *min_spend;       /* COST_MINUTES */
	float *hours;           /* COST_HOURS + 1: the oldest one is kept for seeds */
	int64_t last_hour_push; /* the end of the hour last pushed to hours */
	double *day_at;    /* SPEND_AT: day_spend at the end of each minute m, at m % SPEND_AT */
	double *hour_at;   /* SPEND_AT: hour_spend there */
	uint64_t at_valid; /* bit m % SPEND_AT: minute m's entries were written (not skipped
			    * while idle); at_last is the newest written, the slot holds the
			    * newest minute of its residue up to it */
	int64_t at_last;
};

struct tl_engine {
	struct tl_engine_opts o;
	struct tl_rules default_rules;
	struct tl_symtab *syms;
	struct tl_dedup *dedup;
	struct tl_dedup *usage; /* requests whose tokens were counted */
	struct tl_engine_counts counts;
	int64_t watermark;
	int64_t closed_until; /* buckets ending at or before this are closed; INT64_MIN at first */
	int64_t first_bucket; /* the earliest bucket with data before the first close */

	/* geometry */
	uint32_t ring, ring_mask; /* R, a power of two */
	uint32_t w_max;           /* longest window in buckets */
	uint32_t horizon;         /* H minutes */
	uint32_t per_minute;      /* buckets per minute */
	uint32_t min_history;     /* minutes of baseline a baseline rule needs */
	size_t block;             /* bytes of one series block */

	struct series **series;
	size_t n_series, cap_series;
	struct index_slot *index; /* open addressing on the series key */
	size_t index_mask;

	uint32_t *active;
	size_t n_active, cap_active;

	struct tl_hist **hist_free;
	size_t n_hist_free, cap_hist_free, hists_allocated;

	struct tl_trigger *out;
	size_t n_out, cap_out;

	struct price_slot price_cache[TL_PRICE_CACHE];
	int64_t memo_lo, memo_n; /* the bucket last looked up: [memo_lo, + bucket_ns) is memo_n */
};

/* ---- setup ------------------------------------------------------------------------------ */

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static uint32_t buckets(int64_t ns, int64_t bucket)
{
	return (uint32_t)((ns + bucket - 1) / bucket);
}

/* Each window rule's width in buckets of @bucket ns. */
static void window_widths(const struct tl_rules *r, int64_t bucket, uint32_t wb[W_COUNT])
{
	wb[W_GUARDRAIL] = buckets(r->guardrail.window_ns, bucket);
	wb[W_ERRORS] = buckets(r->errors.window_ns, bucket);
	wb[W_THROTTLING] = buckets(r->throttling.window_ns, bucket);
	wb[W_REFUSAL] = buckets(r->refusal.window_ns, bucket);
}

static void widest(const struct tl_rules *r, int64_t bucket, uint32_t *w)
{
	uint32_t wb[W_COUNT];

	window_widths(r, bucket, wb);
	for (int i = 0; i < W_COUNT; i++)
		if (wb[i] > *w)
			*w = wb[i];
}

struct tl_engine *tl_engine_new(const struct tl_engine_opts *opts, struct tl_symtab *syms)
{
	struct tl_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	if (opts)
		e->o = *opts;
	if (e->o.lateness_ns <= 0)
		e->o.lateness_ns = 2 * MINUTE;
	if (e->o.bucket_ns <= 0 || MINUTE % e->o.bucket_ns != 0)
		e->o.bucket_ns = 10 * TL_NS_PER_S;
	if (e->o.horizon_ns <= 0)
		e->o.horizon_ns = 24 * HOUR;
	if (e->o.min_history_ns <= 0)
		e->o.min_history_ns = 30 * MINUTE;
	if (e->o.hold_ns <= 0)
		e->o.hold_ns = 5 * MINUTE;
	if (e->o.update_every_ns <= 0)
		e->o.update_every_ns = 30 * MINUTE;
	if (e->o.dedup.slice_ns <= 0)
		e->o.dedup.slice_ns = e->o.lateness_ns;
	if (e->o.max_series == 0)
		e->o.max_series = 1u << 20;
	if (e->o.rules)
		e->default_rules = *e->o.rules;
	else
		tl_rules_defaults(&e->default_rules);
	e->syms = syms;
	e->watermark = INT64_MIN;
	e->closed_until = INT64_MIN;
	e->first_bucket = INT64_MAX;

	const int64_t b = e->o.bucket_ns;

	e->per_minute = (uint32_t)(MINUTE / b);
	e->w_max = e->per_minute;
	widest(&e->default_rules, b, &e->w_max);
	for (size_t i = 0; i < e->o.n_deployments; i++)
		widest(&e->o.deployments[i].rules, b, &e->w_max);
	/* room for the windows and for events up to two latenesses ahead of the watermark */
	e->ring = pow2_at_least(e->w_max + 2 * buckets(e->o.lateness_ns, b) + 4);
	e->ring_mask = e->ring - 1;
	e->horizon = (uint32_t)(e->o.horizon_ns / MINUTE);
	if (e->horizon < 60)
		e->horizon = 60;
	e->min_history = (uint32_t)((e->o.min_history_ns + MINUTE - 1) / MINUTE);
	e->block = sizeof(struct series) + (size_t)C_COUNT * e->ring * sizeof(uint32_t) +
		   e->ring * sizeof(int64_t) + e->horizon * (sizeof(uint16_t) + 2) +
		   TL_HIST_BINS * sizeof(uint16_t) + REF_CODES * sizeof(uint16_t) +
		   (COST_MINUTES + COST_HOURS + 1) * sizeof(float) + SPEND_AT * 2 * sizeof(double) +
		   64;
	e->index_mask = 1023;
	e->index = calloc(e->index_mask + 1, sizeof(*e->index));
	e->dedup = tl_dedup_new(&e->o.dedup);
	e->usage = tl_dedup_new(&e->o.dedup);
	if (!e->index || !e->dedup || !e->usage) {
		tl_engine_free(e);
		return NULL;
	}
	return e;
}

void tl_engine_free(struct tl_engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n_series; i++) {
		for (int k = 0; k < MAX_OPEN_MINUTES; k++)
			if (e->series[i]->om[k].minute != INT64_MIN)
				free(e->series[i]->om[k].h);
		free(e->series[i]);
	}
	for (size_t i = 0; i < e->n_hist_free; i++)
		free(e->hist_free[i]);
	free(e->hist_free);
	free(e->series);
	free(e->index);
	free(e->active);
	free(e->out);
	tl_dedup_free(e->dedup);
	tl_dedup_free(e->usage);
	free(e);
}

size_t tl_engine_series_bytes(const struct tl_engine *e)
{
	return e->block;
}

int64_t tl_engine_lateness(const struct tl_engine *e)
{
	return e->o.lateness_ns;
}

const struct tl_engine_counts *tl_engine_get_counts(const struct tl_engine *e)
{
	return &e->counts;
}

struct tl_trigger *tl_engine_triggers(struct tl_engine *e, size_t *ret_n)
{
	*ret_n = e->n_out;
	return e->out;
}

void tl_engine_clear_triggers(struct tl_engine *e)
{
	e->n_out = 0;
}

/* ---- series table ----------------------------------------------------------------------- */

static bool grow_index(struct tl_engine *e)
{
	size_t mask = e->index_mask * 2 + 1;
	struct index_slot *index = calloc(mask + 1, sizeof(*index));

	if (!index)
		return false;
	for (size_t i = 0; i <= e->index_mask; i++) {
		if (!e->index[i].s)
			continue;
		size_t j = e->index[i].key & mask;

		while (index[j].s)
			j = (j + 1) & mask;
		index[j] = e->index[i];
	}
	free(e->index);
	e->index = index;
	e->index_mask = mask;
	return true;
}

static const struct tl_rules *rules_for(const struct tl_engine *e, uint32_t deployment)
{
	size_t n;
	const char *name = tl_symtab_str(e->syms, deployment, &n);

	for (size_t i = 0; i < e->o.n_deployments; i++) {
		const char *d = e->o.deployments[i].name;

		if (strlen(d) != n)
			continue;
		size_t k = 0;

		for (; k < n; k++) {
			char a = d[k], c = name[k];

			if (a >= 'A' && a <= 'Z')
				a = (char)(a + 32);
			if (c >= 'A' && c <= 'Z')
				c = (char)(c + 32);
			if (a != c)
				break;
		}
		if (k == n)
			return &e->o.deployments[i].rules;
	}
	return &e->default_rules;
}

/* Point the arrays of block @s into the rest of the block, widest alignment first. */
static void series_carve(const struct tl_engine *e, struct series *s)
{
	unsigned char *p = (unsigned char *)(s + 1);

	s->day_at = (double *)p;
	p += SPEND_AT * sizeof(double);
	s->hour_at = (double *)p;
	p += SPEND_AT * sizeof(double);
	s->spend = (int64_t *)p;
	p += e->ring * sizeof(int64_t);
	s->cnt = (uint32_t *)p;
	p += (size_t)C_COUNT * e->ring * sizeof(uint32_t);
	s->min_spend = (float *)p;
	p += COST_MINUTES * sizeof(float);
	s->hours = (float *)p;
	p += (COST_HOURS + 1) * sizeof(float);
	s->lat = (uint16_t *)p;
	p += e->horizon * sizeof(uint16_t);
	s->lat_base = (uint16_t *)p;
	p += TL_HIST_BINS * sizeof(uint16_t);
	s->ref_base = (uint16_t *)p;
	p += REF_CODES * sizeof(uint16_t);
	s->ref = p;
	p += e->horizon;
	s->mflag = p;
}

static struct series *new_series(struct tl_engine *e, const struct tl_event *ev)
{
	struct series *s = calloc(1, e->block);

	if (!s)
		return NULL;
	s->key = ev->series;
	s->st.resource = ev->resource;
	s->st.deployment = ev->deployment;
	s->rules = rules_for(e, ev->deployment);
	window_widths(s->rules, e->o.bucket_ns, s->wb);
	s->active_pos = UINT32_MAX;
	s->last_close = INT64_MIN;
	s->last_data = INT64_MIN;
	s->last_minute = INT64_MIN;
	s->day = INT64_MIN;
	s->ref_med = -1;
	s->recent_m = INT64_MIN;
	for (int k = 0; k < MAX_OPEN_MINUTES; k++)
		s->om[k].minute = INT64_MIN;
	for (int r = 0; r < TL_RULE_COUNT; r++)
		s->rs[r].false_since = INT64_MIN;
	s->at_last = INT64_MIN;
	s->last_hour_push = INT64_MIN;
	series_carve(e, s);
	return s;
}

/* The index slot of series @key, or the empty slot where it would go. */
static inline size_t index_probe(const struct tl_engine *e, uint64_t key)
{
	size_t i = key & e->index_mask;

	while (e->index[i].s && e->index[i].key != key)
		i = (i + 1) & e->index_mask;
	return i;
}

/* The block of series @key, NULL if there is none yet. */
static inline struct series *peek_series(const struct tl_engine *e, uint64_t key)
{
	return e->index[index_probe(e, key)].s;
}

/* The block of the series of @ev, made if it is new; NULL past max_series or memory. */
static struct series *find_series(struct tl_engine *e, const struct tl_event *ev)
{
	const size_t i = index_probe(e, ev->series);

	if (e->index[i].s)
		return e->index[i].s;
	if (e->n_series >= e->o.max_series)
		return NULL;
	if (e->n_series == e->cap_series) {
		size_t cap = e->cap_series ? e->cap_series * 2 : 64;
		struct series **ss = realloc(e->series, cap * sizeof(*ss));

		if (!ss)
			return NULL;
		e->series = ss;
		e->cap_series = cap;
	}
	struct series *s = new_series(e, ev);

	if (!s)
		return NULL;
	s->idx = (uint32_t)e->n_series;
	e->series[e->n_series++] = s;
	e->index[i] = (struct index_slot){ .key = ev->series, .s = s };
	if (e->n_series * 2 > e->index_mask)
		(void)grow_index(e); /* on failure the table only gets fuller */
	return s;
}

/* ---- histograms pool -------------------------------------------------------------------- */

static struct tl_hist *hist_take(struct tl_engine *e)
{
	struct tl_hist *h;

	if (e->n_hist_free > 0) {
		h = e->hist_free[--e->n_hist_free];
		memset(h, 0, sizeof(*h));
		return h;
	}
	h = calloc(1, sizeof(*h));
	if (h)
		e->hists_allocated++;
	return h;
}

static void hist_give(struct tl_engine *e, struct tl_hist *h)
{
	if (e->n_hist_free == e->cap_hist_free) {
		size_t cap = e->cap_hist_free ? e->cap_hist_free * 2 : 64;
		struct tl_hist **f = realloc(e->hist_free, cap * sizeof(*f));

		if (!f) {
			free(h);
			e->hists_allocated--;
			return;
		}
		e->hist_free = f;
		e->cap_hist_free = cap;
	}
	e->hist_free[e->n_hist_free++] = h;
}

/* ---- open minutes ---------------------------------------------------------------------- */

/* The open minute starting at @minute; with INT64_MIN, a free slot. NULL if there is none. */
static inline struct open_minute *om_find(struct series *s, int64_t minute)
{
	for (int k = 0; k < MAX_OPEN_MINUTES; k++)
		if (s->om[k].minute == minute)
			return &s->om[k];
	return NULL;
}

/* Open @minute in a free slot with a histogram from the pool; NULL if no slot or memory. */
static struct open_minute *om_open(struct tl_engine *e, struct series *s, int64_t minute)
{
	struct open_minute *om = om_find(s, INT64_MIN);

	if (!om || (om->h = hist_take(e)) == NULL)
		return NULL;
	om->minute = minute;
	return om;
}

/* ---- pricing ---------------------------------------------------------------------------- */

/* The price of a model (and version, for a price listed under "model-version"). */
static int32_t find_price(struct tl_engine *e, uint32_t model, uint32_t version)
{
	struct price_slot *c = &e->price_cache[(model * 31u + version) % TL_PRICE_CACHE];
	size_t mlen, vlen;
	const char *m, *v;
	int32_t best = -1;

	if (c->model == model && c->version == version)
		return c->price;
	m = tl_symtab_str(e->syms, model, &mlen);
	v = tl_symtab_str(e->syms, version, &vlen);
	for (size_t i = 0; i < e->o.n_prices; i++) {
		const char *name = e->o.prices[i].model;
		size_t n = strlen(name);

		if (n == mlen && memcmp(name, m, n) == 0 && best < 0)
			best = (int32_t)i;
		/* a dated entry (gpt-4o-2024-08-06) wins for that version */
		if (vlen && n == mlen + 1 + vlen && memcmp(name, m, mlen) == 0 &&
		    name[mlen] == '-' && memcmp(name + mlen + 1, v, vlen) == 0) {
			best = (int32_t)i;
			break;
		}
	}
	*c = (struct price_slot){ .model = model, .version = version, .price = best };
	return best;
}

/* Spend sums saturate: hostile token counts must not overflow them. */
static inline int64_t nusd_add(int64_t a, int64_t b)
{
	int64_t r;

	return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

/*
 * Count a request's tokens once; return what they cost in nano-USD. Spend is summed in
 * whole nano-USD, not in floating point: the sum is then the same whatever order the
 * records come in (a stream merged from partitions, a replay of one file).
 */
static int64_t add_tokens(struct tl_engine *e, struct series *se, const struct tl_event *ev)
{
	struct tl_series_stats *s = &se->st;
	const uint32_t in = ev->u.req.tokens_in, out = ev->u.req.tokens_out;
	const uint32_t cached = ev->u.req.tokens_cached < in ? ev->u.req.tokens_cached : in;
	const uint32_t model = ev->model ? ev->model : s->model;
	const uint32_t version = ev->model ? ev->model_version : s->model_version;

	/* a request's tokens reported twice (gateway body and GatewayLlmLogs) count once */
	if (ev->usage_key &&
	    tl_dedup_check(e->usage, ev->time_ns, ev->usage_key) == TL_DEDUP_DUPLICATE) {
		e->counts.tokens_repeated += (uint64_t)in + out;
		return 0;
	}
	s->tokens_in += in;
	s->tokens_out += out;
	s->tokens_cached += cached;
	if (in + (uint64_t)out == 0)
		return 0;
	int32_t p = model ? find_price(e, model, version) : -1;

	if (p < 0) {
		e->counts.tokens_unpriced += (uint64_t)in + out;
		return 0;
	}
	const struct tl_price *pr = &e->o.prices[p];
	const double cached_price = pr->cached_input >= 0 ? pr->cached_input : pr->input;
	const double usd = ((double)(in - cached) * pr->input + (double)cached * cached_price +
			    (double)out * pr->output) /
			   1e6;
	/* at most $1000 a request (prices are bounded by the config, tokens are not) */
	const int64_t nusd = usd < 1e3 ? llround(usd * 1e9) : INT64_C(1000000000000);

	se->cost_nusd = nusd_add(se->cost_nusd, nusd);
	s->cost_usd = (double)se->cost_nusd / 1e9;
	return nusd;
}

/* ---- activity --------------------------------------------------------------------------- */

static void activate(struct tl_engine *e, struct series *s, uint32_t idx)
{
	if (s->active_pos != UINT32_MAX)
		return;
	if (e->n_active == e->cap_active) {
		size_t cap = e->cap_active ? e->cap_active * 2 : 64;
		uint32_t *a = realloc(e->active, cap * sizeof(*a));

		if (!a)
			return; /* stays idle: its data waits until memory allows */
		e->active = a;
		e->cap_active = cap;
	}
	s->active_pos = (uint32_t)e->n_active;
	e->active[e->n_active++] = idx;
}

static void deactivate(struct tl_engine *e, struct series *s)
{
	const uint32_t pos = s->active_pos;

	e->active[pos] = e->active[--e->n_active];
	e->series[e->active[pos]]->active_pos = pos;
	s->active_pos = UINT32_MAX;
}

/* The refusal-rate baseline changes only through these, which forget its median. */
static void ref_base_add(struct series *s, uint8_t code)
{
	s->ref_base[code - 1]++;
	s->ref_base_n++;
	s->ref_med = -1;
}

static void ref_base_drop(struct series *s, uint8_t code)
{
	s->ref_base[code - 1]--;
	s->ref_base_n--;
	s->ref_med = -1;
}

static void ref_base_clear(struct series *s)
{
	memset(s->ref_base, 0, REF_CODES * sizeof(uint16_t));
	s->ref_base_n = 0;
	s->ref_med = -1;
}

/* The slot of minute @m (a start time) in a ring of @n minutes. */
static inline uint32_t minute_slot(int64_t m, uint32_t n)
{
	const int64_t k = tl_floor_div(m, MINUTE) % (int64_t)n;

	return (uint32_t)(k < 0 ? k + n : k);
}

/* Age one minute out of the horizon and mark it empty. */
static void minute_forget(struct tl_engine *e, struct series *s, int64_t minute)
{
	const uint32_t j = (uint32_t)(tl_floor_div(minute, MINUTE) % e->horizon);

	if (s->mflag[j] & MF_LAT_IN) {
		s->lat_base[s->lat[j] - 1]--;
		s->lat_base_n--;
	}
	if (s->mflag[j] & MF_REF_IN)
		ref_base_drop(s, s->ref[j]);
	s->lat[j] = 0;
	s->ref[j] = 0;
	s->mflag[j] = 0;
}

/* Push the spend of the hour that ends at @end. */
static void hour_push(struct series *s, double spend, int64_t end)
{
	memmove(s->hours + 1, s->hours, COST_HOURS * sizeof(float));
	s->hours[0] = (float)spend;
	s->last_hour_push = end;
	if (s->hours_n < COST_HOURS)
		s->hours_n++;
}

/*
 * Bring an idle series up to the engine's closed time: the minutes and hours it missed had no
 * data, so only the horizon, the spend rings and the day move.
 */
static void catch_up(struct tl_engine *e, struct series *s)
{
	const int64_t now = e->closed_until;

	if (s->last_close == INT64_MIN || now == INT64_MIN) {
		s->last_close = now;
		s->last_minute =
		    now == INT64_MIN ? INT64_MIN : tl_floor_div(now, MINUTE) * MINUTE - MINUTE;
		return;
	}
	if (now <= s->last_close)
		return;
	const int64_t last_min = tl_floor_div(now, MINUTE) * MINUTE - MINUTE;

	if (s->last_minute != INT64_MIN) {
		if ((last_min - s->last_minute) / MINUTE >= e->horizon) {
			memset(s->lat, 0, e->horizon * sizeof(uint16_t));
			memset(s->ref, 0, e->horizon);
			memset(s->mflag, 0, e->horizon);
			memset(s->lat_base, 0, TL_HIST_BINS * sizeof(uint16_t));
			s->lat_base_n = 0;
			ref_base_clear(s);
		} else {
			for (int64_t m = s->last_minute + MINUTE; m <= last_min; m += MINUTE)
				minute_forget(e, s, m);
		}
		/* the spend sums of the minutes skipped were never written */
		if ((last_min - s->last_minute) / MINUTE >= SPEND_AT)
			s->at_valid = 0;
		else
			for (int64_t m = s->last_minute + MINUTE; m <= last_min; m += MINUTE)
				s->at_valid &= ~(UINT64_C(1) << minute_slot(m, SPEND_AT));
	}
	s->last_minute = last_min;
	/* hours and minutes of spend that passed without any */
	const int64_t h0 = tl_floor_div(s->last_close, HOUR), h1 = tl_floor_div(now, HOUR);

	if (h1 > h0) {
		hour_push(s, s->hour_spend, (h0 + 1) * HOUR);
		s->hour_spend = 0;
		for (int64_t h = h0 + 1; h < h1 && h - h0 <= COST_HOURS; h++)
			hour_push(s, 0, (h + 1) * HOUR);
	}
	if (tl_floor_div(now, MINUTE) > tl_floor_div(s->last_close, MINUTE)) {
		memset(s->min_spend, 0, COST_MINUTES * sizeof(float));
		s->minute_spend = 0;
		s->recent_m = INT64_MIN;
	}
	s->lat_consec = 0;
	s->last_close = now;
}

/* ---- events ----------------------------------------------------------------------------- */

static inline bool memo_holds(const struct tl_engine *e, int64_t t)
{
	return t >= e->memo_lo && t - e->memo_lo < e->o.bucket_ns;
}

/* The bucket of @t, the memo left as it is. */
static inline int64_t bucket_peek(const struct tl_engine *e, int64_t t)
{
	return memo_holds(e, t) ? e->memo_n : tl_floor_div(t, e->o.bucket_ns);
}

/* The bucket of @t; events come mostly in order, so the last answer is most often right. */
static inline int64_t bucket_of(struct tl_engine *e, int64_t t)
{
	const int64_t b = e->o.bucket_ns;

	if (memo_holds(e, t))
		return e->memo_n;
	const int64_t n = tl_floor_div(t, b);

	if (t >= 0) { /* n * b cannot overflow */
		e->memo_lo = n * b;
		e->memo_n = n;
	}
	return n;
}

/* One event; @s is its series when the caller has looked it up already, else NULL. */
static void push(struct tl_engine *e, const struct tl_event *ev, struct series *s)
{
	int64_t usd = 0; /* nano-USD */

	if (ev->fingerprint) {
		enum tl_dedup_result d = tl_dedup_check(e->dedup, ev->time_ns, ev->fingerprint);

		if (d == TL_DEDUP_DUPLICATE) {
			e->counts.duplicate++;
			return;
		}
		if (d == TL_DEDUP_UNCHECKED)
			e->counts.dedup_unchecked++;
	}
	e->counts.decoded++;
	if (!s)
		s = find_series(e, ev);
	if (!s) {
		e->counts.series_dropped++;
		return;
	}
	/* totals: every decoded event, late or not */
	if (ev->model) {
		s->st.model = ev->model;
		s->st.model_version = ev->model_version;
	}
	switch (ev->kind) {
	case TL_EV_REQUEST:
		s->st.requests++;
		switch (tl_status_class(ev->status)) {
		case 2:
			s->st.status_2xx++;
			break;
		case 4:
			s->st.status_4xx++;
			break;
		case 29:
			s->st.status_429++;
			break;
		case 5:
			s->st.status_5xx++;
			break;
		default:
			s->st.status_other++;
			break;
		}
		s->st.guardrail_checked += (ev->flags & TL_EVF_GUARDRAIL_CHECKED) != 0;
		s->st.guardrail_failed += (ev->flags & TL_EVF_GUARDRAIL_FAILED) != 0;
		s->st.refusals += (ev->flags & TL_EVF_REFUSAL) != 0;
		if (ev->flags & TL_EVF_TOKENS)
			usd = add_tokens(e, s, ev);
		break;
	case TL_EV_USAGE:
		if (ev->flags & TL_EVF_TOKENS)
			usd = add_tokens(e, s, ev);
		break;
	case TL_EV_METRIC:
		s->st.metric_rows++;
		return;
	case TL_EV_CHANGE:
		s->st.changes++;
		return;
	default:
		return;
	}
	/* detection: only what falls in an open bucket */
	const int64_t b = e->o.bucket_ns;

	if (ev->time_ns < e->closed_until) {
		e->counts.late++;
		return;
	}
	const int64_t n = bucket_of(e, ev->time_ns);

	/* closed_until is a bucket end; the difference is exact in unsigned arithmetic */
	if (e->closed_until != INT64_MIN && (uint64_t)ev->time_ns - (uint64_t)e->closed_until >=
						(uint64_t)(e->ring - e->w_max) * (uint64_t)b) {
		e->counts.ahead++;
		return;
	}
	if (e->closed_until == INT64_MIN) {
		/* before the first watermark a series starts at its own first bucket */
		if (n * b < e->first_bucket)
			e->first_bucket = n * b;
		if (s->last_close == INT64_MIN || n * b < s->last_close)
			s->last_close = n * b;
		activate(e, s, s->idx);
	} else if (s->active_pos == UINT32_MAX) {
		catch_up(e, s);
		activate(e, s, s->idx);
	}
	if (n * b > s->last_data)
		s->last_data = n * b;

	uint32_t *c = s->cnt + (uint32_t)(n & e->ring_mask);
	const uint32_t R = e->ring;

	if (ev->kind == TL_EV_REQUEST) {
		const int sc = status_counter(ev->status);

		c[C_REQ * R]++;
		if (sc != C_COUNT)
			c[sc * R]++;
		if (ev->flags & TL_EVF_GUARDRAIL_CHECKED) {
			c[C_GCHK * R]++;
			c[C_GFAIL * R] += (ev->flags & TL_EVF_GUARDRAIL_FAILED) != 0;
		}
		if (ev->flags & TL_EVF_REFUSAL_CHECKED) {
			c[C_RCHK * R]++;
			c[C_REF * R] += (ev->flags & TL_EVF_REFUSAL) != 0;
		}
		if (ev->flags & TL_EVF_LATENCY) {
			const int64_t minute = tl_floor_div(ev->time_ns, MINUTE) * MINUTE;
			struct open_minute *om = &s->om[s->om_last];

			if (om->minute != minute) {
				om = om_find(s, minute);
				if (!om)
					om = om_open(e, s, minute);
				if (om)
					s->om_last = (uint8_t)(om - s->om);
			}
			if (om)
				tl_hist_add(om->h, ev->u.req.latency_ms);
		}
	}
	if (usd != 0)
		s->spend[n & e->ring_mask] = nusd_add(s->spend[n & e->ring_mask], usd);
}

void tl_engine_push(struct tl_engine *e, const struct tl_event *ev)
{
	push(e, ev, NULL);
}

/* ---- evaluation ------------------------------------------------------------------------- */

/* An observation a rule made at one evaluation. */
struct obs {
	double observed, baseline, threshold;
	int64_t win_start, win_end;
	uint8_t unit, severity;
	char reason[120];
};

/* Sum counter @c over the @w buckets ending with bucket @n. */
static uint64_t wsum(const struct tl_engine *e, const struct series *s, int c, int64_t n,
		     uint32_t w)
{
	const uint32_t *a = s->cnt + (size_t)c * e->ring;
	const uint32_t end = (uint32_t)(n & e->ring_mask);
	const uint32_t start = (uint32_t)((n - w + 1) & e->ring_mask);
	uint64_t sum = 0;

	if (start <= end) {
		for (uint32_t i = start; i <= end; i++)
			sum += a[i];
	} else {
		for (uint32_t i = start; i < e->ring; i++)
			sum += a[i];
		for (uint32_t i = 0; i <= end; i++)
			sum += a[i];
	}
	return sum;
}

static uint32_t median_code(const uint16_t *counts, uint32_t n_codes, uint32_t total)
{
	uint32_t half = (total + 1) / 2, seen = 0;

	for (uint32_t i = 0; i < n_codes; i++) {
		seen += counts[i];
		if (seen >= half)
			return i;
	}
	return n_codes - 1;
}

/* Refusal rates as codes: 0 = no data, 1 = none refused, 2.. = 1e-4 x 1.05^(code - 2). */
static uint8_t ref_code(uint64_t refused, uint64_t checked)
{
	if (!checked)
		return 0;
	if (!refused)
		return 1;
	const double r = (double)refused / (double)checked;
	long c = 2 + lround(log(r / 1e-4) / log(1.05));

	return (uint8_t)(c < 2 ? 2 : c > REF_CODES - 1 ? REF_CODES - 1 : c);
}

static double ref_rate(uint32_t code)
{
	return code <= 1 ? 0.0 : 1e-4 * pow(1.05, (double)code - 2);
}

/* ---- seeds ------------------------------------------------------------------------------ */

struct tl_series_seed *tl_series_seed_new(uint32_t horizon)
{
	struct tl_series_seed *sd = calloc(1, sizeof(*sd) + horizon * (sizeof(uint16_t) + 2));

	if (!sd)
		return NULL;
	sd->horizon = horizon;
	sd->lat = (uint16_t *)(sd + 1);
	sd->ref = (uint8_t *)(sd->lat + horizon);
	sd->mflag = sd->ref + horizon;
	sd->last_minute = INT64_MIN;
	sd->last_hour_push = INT64_MIN;
	for (int i = 0; i < TL_SEED_MINUTES; i++)
		sd->at_min[i] = INT64_MIN;
	return sd;
}

void tl_series_seed_free(struct tl_series_seed *seed)
{
	free(seed);
}

double tl_seed_latency_ms(uint16_t code)
{
	return code && code <= TL_HIST_BINS ? tl_hist_value(code - 1u) : NAN;
}

static double ref_rate(uint32_t code);

double tl_seed_refusal_rate(uint8_t code)
{
	return code ? ref_rate(code) : NAN;
}

static struct tl_series_seed *seed_export(const struct tl_engine *e, const struct series *s)
{
	struct tl_series_seed *sd = tl_series_seed_new(e->horizon);
	const int64_t last = s->last_minute;

	if (!sd || last == INT64_MIN)
		return sd;
	sd->last_minute = last;
	for (uint32_t i = 0; i < e->horizon; i++) {
		const uint32_t j =
		    minute_slot(last - (int64_t)(e->horizon - 1 - i) * MINUTE, e->horizon);

		sd->lat[i] = s->lat[j];
		sd->ref[i] = s->ref[j];
		sd->mflag[i] = s->mflag[j] & (MF_LAT_EXCL | MF_REF_EXCL | MF_LAT_BREACH);
	}
	for (int i = 0; i < TL_SEED_MINUTES; i++) {
		const int64_t m = last - (int64_t)i * MINUTE;
		const uint32_t j = minute_slot(m, SPEND_AT);

		if ((s->at_valid >> j & 1) && m <= s->at_last &&
		    s->at_last - m < (int64_t)SPEND_AT * MINUTE) {
			sd->at_min[i] = m;
			sd->day_at[i] = s->day_at[j];
			sd->hour_at[i] = s->hour_at[j];
		}
		sd->min_spend[i] = s->min_spend[minute_slot(m, COST_MINUTES)];
	}
	memcpy(sd->hours, s->hours, sizeof(sd->hours));
	sd->hours_n = s->hours_n;
	sd->last_hour_push = s->last_hour_push;
	sd->hour_spike = s->hour_spike;
	sd->hour_spike_value = s->hour_spike_value;
	sd->hour_median = s->hour_median;
	return sd;
}

static void emit(struct tl_engine *e, struct series *s, enum tl_rule r, uint8_t type, int64_t at,
		 const struct obs *o)
{
	const struct rule_state *rs = &s->rs[r];
	const struct tl_rules *cfg = s->rules;

	if (e->n_out == e->cap_out) {
		size_t cap = e->cap_out ? e->cap_out * 2 : 64;
		struct tl_trigger *t = realloc(e->out, cap * sizeof(*t));

		if (!t)
			return;
		e->out = t;
		e->cap_out = cap;
	}
	struct tl_trigger *t = &e->out[e->n_out++];

	*t = (struct tl_trigger){
		.at = at,
		.fired_at = rs->fired_at,
		.window_start = o->win_start,
		.window_end = o->win_end,
		.resolved_at = rs->false_since,
		.incident = rs->incident,
		.series = s->key,
		.resource = s->st.resource,
		.deployment = s->st.deployment,
		.model = s->st.model,
		.model_version = s->st.model_version,
		.observed = o->observed,
		.baseline = o->baseline,
		.threshold = o->threshold,
		.type = type,
		.rule = (uint8_t)r,
		.severity = o->severity,
		.unit = o->unit,
		.fallback = cfg->fallback,
		.owner = cfg->owner,
		.incident_commander = cfg->incident_commander,
		.comms_owner = cfg->comms_owner,
	};
	if (type != TL_TRIGGER_FIRE)
		t->impact = rs->impact;
	if (o->severity <= 1 && cfg->fallback[0])
		t->action = TL_ACTION_FAILOVER;
	else if (r == TL_RULE_COST || r == TL_RULE_THROTTLING)
		t->action = TL_ACTION_THROTTLE;
	else
		t->action = TL_ACTION_INVESTIGATE;
	(void)snprintf(t->reason, sizeof(t->reason), "%s", o->reason);
	if (type == TL_TRIGGER_FIRE && e->o.export_seeds)
		t->seed = seed_export(e, s); /* NULL when out of memory: the snapshot says so */
}

/*
 * The trigger lifecycle of one (rule, series): ok -> pending while the condition holds but has
 * not held long enough (@sustained), -> firing, -> back to ok once the condition has been false
 * for the hold period. Emits trigger, update (every update_every, and when the severity rises)
 * and resolved events.
 */
static void lifecycle(struct tl_engine *e, struct series *s, enum tl_rule r, bool breach,
		      bool sustained, int64_t onset, int64_t at, const struct obs *o)
{
	struct rule_state *rs = &s->rs[r];

	switch (rs->state) {
	case ST_OK:
		if (!breach)
			return;
		rs->onset = onset;
		rs->state = ST_PENDING;
		TL_FALLTHROUGH;
	case ST_PENDING:
		if (!breach) {
			rs->state = ST_OK;
			return;
		}
		if (!sustained)
			return;
		rs->state = ST_FIRING;
		rs->fired_at = at;
		rs->last_update = at;
		rs->false_since = INT64_MIN;
		rs->severity = o->severity;
		rs->incident =
		    tl_hash_combine(tl_hash_combine(s->key, (uint64_t)r + 1), (uint64_t)rs->onset);
		rs->impact = (struct tl_impact){ 0 };
		emit(e, s, r, TL_TRIGGER_FIRE, at, o);
		return;
	case ST_FIRING:
	default:
		break;
	}
	if (breach) {
		rs->false_since = INT64_MIN;
		if (o->severity < rs->severity || at - rs->last_update >= e->o.update_every_ns) {
			if (o->severity < rs->severity)
				rs->severity = o->severity;
			rs->last_update = at;
			emit(e, s, r, TL_TRIGGER_UPDATE, at, o);
		}
		return;
	}
	if (rs->false_since == INT64_MIN)
		rs->false_since = at;
	if (at - rs->false_since >= e->o.hold_ns) {
		emit(e, s, r, TL_TRIGGER_RESOLVED, at, o);
		rs->state = ST_OK;
		rs->false_since = INT64_MIN;
		return;
	}
	if (at - rs->last_update >= e->o.update_every_ns) {
		rs->last_update = at;
		emit(e, s, r, TL_TRIGGER_UPDATE, at, o);
	}
}

static void eval_rate(struct tl_engine *e, struct series *s, enum tl_rule r,
		      const struct tl_rule_rate *cfg, int wr, int64_t at, const char *what)
{
	const uint32_t w = s->wb[wr];
	const uint64_t den = s->win[wr][1], num = s->win[wr][0];
	const double ratio = den ? (double)num / (double)den : 0.0;
	const bool breach =
	    cfg->enabled && den >= cfg->min_requests && den > 0 && ratio > cfg->rate;
	struct obs o = { .observed = ratio,
			 .baseline = NAN,
			 .threshold = cfg->rate,
			 .win_start = at - (int64_t)w * e->o.bucket_ns,
			 .win_end = at,
			 .unit = TL_UNIT_RATIO,
			 .severity = ratio >= cfg->severe_rate ? 1 : 2 };

	if (!breach && s->rs[r].state == ST_OK)
		return;
	(void)snprintf(o.reason, sizeof(o.reason),
		       "%s in %.1f %% of %llu requests over %lld min "
		       "(threshold %.1f %%)",
		       what, ratio * 100, (unsigned long long)den,
		       (long long)(cfg->window_ns / MINUTE), cfg->rate * 100);
	lifecycle(e, s, r, breach, breach, at, at, &o);
}

/* The median refusal-rate code of the baseline, computed again only when it changed. */
static uint32_t ref_median(struct series *s)
{
	if (s->ref_med < 0)
		s->ref_med = (int32_t)median_code(s->ref_base, REF_CODES, s->ref_base_n);
	return (uint32_t)s->ref_med;
}

static void eval_refusal(struct tl_engine *e, struct series *s, int64_t at)
{
	const struct tl_rule_refusal *cfg = &s->rules->refusal;
	const uint32_t w = s->wb[W_REFUSAL];
	const uint64_t den = s->win[W_REFUSAL][1], num = s->win[W_REFUSAL][0];
	const double ratio = den ? (double)num / (double)den : 0.0;
	const bool have_base = s->ref_base_n >= e->min_history;
	const double base = have_base ? ref_rate(ref_median(s) + 1) : NAN;
	const double thr =
	    have_base && cfg->factor * base > cfg->rate ? cfg->factor * base : cfg->rate;
	const bool breach =
	    cfg->enabled && have_base && den >= cfg->min_requests && den > 0 && ratio > thr;
	struct obs o = { .observed = ratio,
			 .baseline = base,
			 .threshold = thr,
			 .win_start = at - (int64_t)w * e->o.bucket_ns,
			 .win_end = at,
			 .unit = TL_UNIT_RATIO,
			 .severity = ratio >= cfg->severe_rate ? 1 : 2 };

	if (breach || s->rs[TL_RULE_REFUSAL].state != ST_OK)
		s->ref_breach_minute = true;
	if (!breach && s->rs[TL_RULE_REFUSAL].state == ST_OK)
		return;
	(void)snprintf(o.reason, sizeof(o.reason),
		       "refusals in %.1f %% of %llu requests over %lld "
		       "min (baseline %.2f %%, threshold %.1f %%)",
		       ratio * 100, (unsigned long long)den, (long long)(cfg->window_ns / MINUTE),
		       base * 100, thr * 100);
	lifecycle(e, s, TL_RULE_REFUSAL, breach, breach, at, at, &o);
}

static double median_float(const float *v, uint32_t n)
{
	float tmp[COST_HOURS];

	memcpy(tmp, v, n * sizeof(float));
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 0 && tmp[j - 1] > tmp[j]; j--) {
			float t = tmp[j];

			tmp[j] = tmp[j - 1];
			tmp[j - 1] = t;
		}
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2.0;
}

static void eval_cost(struct tl_engine *e, struct series *s, int64_t at)
{
	const struct tl_rule_cost *cfg = &s->rules->cost;
	const double budget = cfg->daily_budget_usd;
	uint8_t level = 0; /* warn shares crossed; warn_at rises, so they are the first ones */

	while (budget > 0 && level < cfg->n_warn && s->day_spend >= cfg->warn_at[level] * budget)
		level++;
	const double crossed = level ? cfg->warn_at[level - 1] : 0; /* the highest */
	/* project the day at the spend rate of the last rate_window */
	uint32_t k = (uint32_t)(cfg->rate_window_ns / MINUTE);

	if (k < 1)
		k = 1;
	if (k > COST_MINUTES)
		k = COST_MINUTES;
	const int64_t m = tl_floor_div(at, MINUTE) - 1; /* the last closed minute */

	/* the sum of the minutes holds until one of them is written or m moves on */
	if (m != s->recent_m) {
		s->recent_spend = 0;
		for (uint32_t i = 0; i < k; i++)
			s->recent_spend += s->min_spend[(uint64_t)(m - i) % COST_MINUTES];
		s->recent_m = m;
	}
	const double recent = s->recent_spend;
	const double rate = recent / ((double)k * (double)MINUTE); /* USD per ns */
	const double left = (double)(s->day + DAY - at);
	const double projected = s->day_spend + rate * (left > 0 ? left : 0);
	const bool proj =
	    cfg->enabled && budget > 0 && rate > 0 && crossed < 1.0 && projected > budget;
	/* a warn share crossed is news once; a share of 1.0 or more crossed (the budget spent,
	 * if warn_at lists it), a projection past the budget, or an hour far above the usual
	 * one is a condition that lasts while it holds */
	const bool news = level > s->cost_level;
	const bool breach = cfg->enabled && (news || crossed >= 1.0 || proj || s->hour_spike);

	s->cost_level = level;
	struct obs o = { .observed = s->day_spend,
			 .baseline = rate > 0 ? projected : NAN,
			 .threshold = budget,
			 .win_start = s->day,
			 .win_end = at,
			 .unit = TL_UNIT_USD };

	if (!breach && s->rs[TL_RULE_COST].state == ST_OK)
		return;
	o.severity = crossed >= 1.0 ? 2 : (crossed >= 0.8 || proj || s->hour_spike) ? 3 : 4;
	if (crossed >= 1.0 || (news && !proj && !s->hour_spike))
		(void)snprintf(o.reason, sizeof(o.reason),
			       "spent %.2f USD today, %.0f %% of the %.2f USD daily budget",
			       s->day_spend, s->day_spend / budget * 100, budget);
	else if (proj)
		(void)snprintf(o.reason, sizeof(o.reason),
			       "on course for %.2f USD today at the last %u minutes' rate (budget "
			       "%.2f USD)",
			       projected, k, budget);
	else if (s->hour_spike)
		(void)snprintf(o.reason, sizeof(o.reason),
			       "%.2f USD in the last hour, %.1f x the median hour (%.2f USD)",
			       s->hour_spike_value, s->hour_spike_value / s->hour_median,
			       s->hour_median);
	else
		(void)snprintf(o.reason, sizeof(o.reason), "spend back under every threshold");
	lifecycle(e, s, TL_RULE_COST, breach, breach, at, at, &o);
}

/* Close the minute from @start, whose last bucket is @n. */
static void close_minute(struct tl_engine *e, struct series *s, int64_t start, int64_t n)
{
	const struct tl_rule_latency *cfg = &s->rules->latency;
	const int64_t end = start + MINUTE, m = tl_floor_div(start, MINUTE);
	struct open_minute *om = om_find(s, start);
	struct tl_hist *h = NULL;
	uint16_t code = 0;

	if (om) {
		h = om->h;
		om->minute = INT64_MIN;
		om->h = NULL;
	}
	const uint32_t need_req = cfg->min_requests ? cfg->min_requests : 1;

	if (h && h->n >= need_req)
		code = (uint16_t)(1 + tl_hist_quantile_bin(h, cfg->statistic));
	if (h)
		hist_give(e, h);

	/* latency: this minute's statistic against the median of the horizon's minutes */
	const uint32_t need =
	    (uint32_t)(cfg->for_ns / MINUTE) ? (uint32_t)(cfg->for_ns / MINUTE) : 1;
	const bool have_base = s->lat_base_n >= e->min_history;
	const double base =
	    have_base ? tl_hist_value(median_code(s->lat_base, TL_HIST_BINS, s->lat_base_n)) : NAN;
	const double p = code ? tl_hist_value(code - 1u) : NAN;
	const bool breach = cfg->enabled && code && have_base && p > cfg->factor * base;

	s->lat_consec = breach ? s->lat_consec + 1 : 0;
	if (breach || s->rs[TL_RULE_LATENCY].state != ST_OK) {
		struct obs o = { .observed = code ? p : NAN,
				 .baseline = base,
				 .threshold = cfg->factor * base,
				 .win_start = end - (int64_t)need * MINUTE,
				 .win_end = end,
				 .unit = TL_UNIT_MS,
				 .severity = code && p >= cfg->severe_factor * base ? 1 : 2 };

		(void)snprintf(
		    o.reason, sizeof(o.reason),
		    "p%.0f latency %.0f ms in the minute to %02d:%02d, %.1f x the baseline "
		    "%.0f ms",
		    cfg->statistic * 100, code ? p : 0.0, (int)(tl_floor_div(end, HOUR) % 24),
		    (int)(tl_floor_div(end, MINUTE) % 60), code ? p / base : 0.0, base);
		lifecycle(e, s, TL_RULE_LATENCY, breach, s->lat_consec >= need,
			  end - (int64_t)s->lat_consec * MINUTE, end, &o);
	}
	/* the refusal rate of the minute */
	const uint8_t rcode =
	    ref_code(wsum(e, s, C_REF, n, e->per_minute), wsum(e, s, C_RCHK, n, e->per_minute));

	/* age the minute that leaves the horizon, store this one */
	const uint32_t j = (uint32_t)(m % e->horizon);

	minute_forget(e, s, start);
	s->lat[j] = code;
	s->ref[j] = rcode;
	s->mflag[j] =
	    (uint8_t)((breach || s->rs[TL_RULE_LATENCY].state != ST_OK ? MF_LAT_EXCL : 0) |
		      (breach ? MF_LAT_BREACH : 0) | (s->ref_breach_minute ? MF_REF_EXCL : 0));
	s->ref_breach_minute = false;
	/* minutes join the baselines once they have left the evaluation windows */
	const uint32_t e_ref = (uint32_t)(s->rules->refusal.window_ns / MINUTE);
	const uint32_t jl = (uint32_t)((m - need + e->horizon) % e->horizon);
	const uint32_t jr = (uint32_t)((m - e_ref + e->horizon) % e->horizon);

	if (need < e->horizon && s->lat[jl] && !(s->mflag[jl] & (MF_LAT_EXCL | MF_LAT_IN))) {
		s->lat_base[s->lat[jl] - 1]++;
		s->lat_base_n++;
		s->mflag[jl] |= MF_LAT_IN;
	}
	if (e_ref < e->horizon && s->ref[jr] && !(s->mflag[jr] & (MF_REF_EXCL | MF_REF_IN))) {
		ref_base_add(s, s->ref[jr]);
		s->mflag[jr] |= MF_REF_IN;
	}
	s->last_minute = start;
	/* spend per minute, for the cost projection */
	s->min_spend[(uint64_t)m % COST_MINUTES] = (float)s->minute_spend;
	s->day_at[(uint64_t)m % SPEND_AT] = s->day_spend;
	s->hour_at[(uint64_t)m % SPEND_AT] = s->hour_spend;
	s->at_valid |= UINT64_C(1) << ((uint64_t)m % SPEND_AT);
	s->at_last = start;
	s->recent_m = INT64_MIN;
	s->minute_spend = 0;
}

static void close_hour(struct series *s, int64_t end)
{
	const struct tl_rule_cost *cfg = &s->rules->cost;
	const double spend = s->hour_spend;

	s->hour_spike = false;
	/* an hour is compared with a whole day of hours: against fewer, the morning ramp of an
	 * ordinary day looks like a spike */
	if (s->hours_n >= COST_HOURS && spend > 0.01) {
		const double med = median_float(s->hours, s->hours_n);

		if (med > 0 && spend > cfg->hourly_factor * med) {
			s->hour_spike = true;
			s->hour_spike_value = (float)spend;
			s->hour_median = (float)med;
		}
	}
	if (!s->hour_spike)
		hour_push(s, spend, end); /* a spike hour does not teach the baseline */
	s->hour_spend = 0;
}

/* Close bucket @n, which ends at @at, of series @s. */
static void close_bucket(struct tl_engine *e, struct series *s, int64_t n, int64_t at)
{
	const struct tl_rules *cfg = s->rules;
	const uint32_t slot = (uint32_t)(n & e->ring_mask);
	const int64_t day = tl_floor_div(at - e->o.bucket_ns, DAY) * DAY;
	const uint32_t R = e->ring;

	/* slide each rule's window by one bucket: add bucket n, drop bucket n - w */
	for (int w = 0; w < W_COUNT; w++) {
		const uint32_t old = (uint32_t)((n - s->wb[w]) & e->ring_mask);

		for (int k = 0; k < 2; k++) {
			const uint32_t *a = s->cnt + (size_t)win_counters[w][k] * R;

			s->win[w][k] += a[slot];
			s->win[w][k] -= a[old];
		}
	}
	/* what each incident firing saw, by event time: the buckets after the one it fired in */
	for (int r = 0; r < TL_RULE_COUNT; r++) {
		struct tl_impact *m = &s->rs[r].impact;

		if (s->rs[r].state != ST_FIRING)
			continue;
		m->requests += s->cnt[C_REQ * R + slot];
		m->errors_5xx += s->cnt[C_5XX * R + slot];
		m->throttled_429 += s->cnt[C_429 * R + slot];
		m->guardrail_failed += s->cnt[C_GFAIL * R + slot];
		m->refusals += s->cnt[C_REF * R + slot];
		m->cost_usd += (double)s->spend[slot] / 1e9;
	}
	eval_rate(e, s, TL_RULE_GUARDRAIL, &cfg->guardrail, W_GUARDRAIL, at,
		  "content-filter results");
	eval_rate(e, s, TL_RULE_ERRORS, &cfg->errors, W_ERRORS, at, "5xx responses");
	eval_rate(e, s, TL_RULE_THROTTLING, &cfg->throttling, W_THROTTLING, at, "429 responses");
	eval_refusal(e, s, at);
	if (day != s->day) {
		s->day = day;
		s->day_spend = 0;
		s->cost_level = 0;
	}
	const double spend = (double)s->spend[slot] / 1e9;

	s->day_spend += spend;
	s->hour_spend += spend;
	s->minute_spend += spend;
	if (at % MINUTE == 0)
		close_minute(e, s, at - MINUTE, n);
	if (at % HOUR == 0)
		close_hour(s, at);
	eval_cost(e, s, at);
	/* the bucket no window reaches any more is cleared for reuse: the next close drops at
	 * most bucket n + 1 - w_max */
	const uint32_t old = (uint32_t)((n - e->w_max) & e->ring_mask);

	for (int c = 0; c < C_COUNT; c++)
		s->cnt[(size_t)c * e->ring + old] = 0;
	s->spend[old] = 0;
	s->last_close = at;
}

static bool is_idle(const struct tl_engine *e, const struct series *s, int64_t at)
{
	const int64_t quiet = (int64_t)(e->w_max + 1) * e->o.bucket_ns +
			      (int64_t)(s->rules->latency.for_ns > s->rules->refusal.window_ns
					    ? s->rules->latency.for_ns
					    : s->rules->refusal.window_ns) +
			      2 * MINUTE;

	if (s->last_data != INT64_MIN && at - s->last_data < quiet)
		return false;
	for (int r = 0; r < TL_RULE_COUNT; r++)
		if (s->rs[r].state != ST_OK)
			return false;
	for (int k = 0; k < MAX_OPEN_MINUTES; k++)
		if (s->om[k].minute != INT64_MIN)
			return false;
	return !s->hour_spike;
}

/*
 * The loads an event will make, issued ahead of it in stages, each stage reading only what
 * the one before brought in: the duplicate cells and the index slot, then the series block's
 * header, then its counters and open minute, then the minute's histogram lines. The order in
 * which events are processed is unchanged.
 */
static inline void ahead_index(const struct tl_engine *e, const struct tl_event *x)
{
	if (x->fingerprint)
		tl_dedup_prefetch(e->dedup, x->time_ns, x->fingerprint);
	if (x->usage_key)
		tl_dedup_prefetch(e->usage, x->time_ns, x->usage_key);
	__builtin_prefetch(&e->index[x->series & e->index_mask]);
}

/* Return: the series of @x, for the later stages and push; NULL if it is new. */
static inline struct series *ahead_header(const struct tl_engine *e, const struct tl_event *x)
{
	struct series *s = peek_series(e, x->series);

	if (s)
		for (size_t off = 0; off < offsetof(struct series, om); off += 64)
			__builtin_prefetch((const char *)s + off, 1);
	return s;
}

static inline void ahead_counters(const struct tl_engine *e, const struct tl_event *x,
				  const struct series *s)
{
	if (!s || (x->kind != TL_EV_REQUEST && x->kind != TL_EV_USAGE))
		return;
	/* bucket_peek: the memo stays push's, which events a batch ahead would flip at each
	 * bucket boundary */
	const uint32_t slot = (uint32_t)(bucket_peek(e, x->time_ns) & e->ring_mask);

	if (x->flags & TL_EVF_TOKENS)
		__builtin_prefetch(s->spend + slot, 1);
	if (x->kind != TL_EV_REQUEST)
		return;
	const uint32_t *c = s->cnt + slot;
	const uint32_t R = e->ring;
	const int sc = status_counter(x->status);

	__builtin_prefetch(c + C_REQ * R, 1);
	if (sc != C_COUNT)
		__builtin_prefetch(c + sc * R, 1);
	if (x->flags & TL_EVF_GUARDRAIL_CHECKED) {
		__builtin_prefetch(c + C_GCHK * R, 1);
		__builtin_prefetch(c + C_GFAIL * R, 1);
	}
	if (x->flags & TL_EVF_REFUSAL_CHECKED) {
		__builtin_prefetch(c + C_RCHK * R, 1);
		__builtin_prefetch(c + C_REF * R, 1);
	}
	if (x->flags & TL_EVF_LATENCY)
		__builtin_prefetch(&s->om[s->om_last], 0);
}

static inline void ahead_hist(const struct tl_event *x, const struct series *s)
{
	if (!s || x->kind != TL_EV_REQUEST || !(x->flags & TL_EVF_LATENCY))
		return;
	const struct open_minute *om = &s->om[s->om_last];

	if (om->h && om->minute == tl_floor_div(x->time_ns, MINUTE) * MINUTE) {
		__builtin_prefetch(om->h, 1);
		__builtin_prefetch(&om->h->bins[tl_hist_bin(x->u.req.latency_ms)], 1);
	}
}

void tl_engine_push_batch(struct tl_engine *e, const struct tl_event *ev, size_t n)
{
	enum { D_INDEX = 16, D_HEADER = 12, D_COUNTERS = 8, D_HIST = 4, N_SEEN = 16 };
	/* the series of event i, as the header stage found it, at seen[i % N_SEEN]; blocks
	 * never move, and one still NULL (a series new then) is looked up again by push */
	struct series *seen[N_SEEN];

	_Static_assert(D_HEADER < N_SEEN, "an event's series is kept until it is pushed");
	for (size_t i = 0; i < n && i < D_INDEX; i++)
		ahead_index(e, &ev[i]);
	for (size_t i = 0; i < n && i < D_HEADER; i++)
		seen[i % N_SEEN] = ahead_header(e, &ev[i]);
	for (size_t i = 0; i < n && i < D_COUNTERS; i++)
		ahead_counters(e, &ev[i], seen[i % N_SEEN]);
	for (size_t i = 0; i < n && i < D_HIST; i++)
		ahead_hist(&ev[i], seen[i % N_SEEN]);
	for (size_t i = 0; i < n; i++) {
		if (i + D_INDEX < n)
			ahead_index(e, &ev[i + D_INDEX]);
		if (i + D_HEADER < n)
			seen[(i + D_HEADER) % N_SEEN] = ahead_header(e, &ev[i + D_HEADER]);
		if (i + D_COUNTERS < n)
			ahead_counters(e, &ev[i + D_COUNTERS], seen[(i + D_COUNTERS) % N_SEEN]);
		if (i + D_HIST < n)
			ahead_hist(&ev[i + D_HIST], seen[(i + D_HIST) % N_SEEN]);
		push(e, &ev[i], seen[i % N_SEEN]);
	}
}

/* Request every line of [@p, @p + @len) for writing. */
static inline void prefetch_lines_w(const void *p, size_t len)
{
	const uintptr_t end = (uintptr_t)p + len;

	for (uintptr_t a = (uintptr_t)p & ~(uintptr_t)63; a < end; a += 64)
		__builtin_prefetch((const void *)a, 1);
}

/*
 * The loads closing bucket @n of a series will make, issued ahead of it in two stages like
 * push's: its struct, then its counters. Of the struct, close_bucket uses the first line and
 * the fields from rules on; the totals only to emit a trigger, the open minutes once a minute.
 */
static inline void ahead_close_struct(const struct series *x)
{
	prefetch_lines_w(x, offsetof(struct series, st));
	prefetch_lines_w(&x->rules, sizeof(*x) - offsetof(struct series, rules));
}

/*
 * Of the counters: each window's two at the bucket it adds (n) and the one it drops
 * (n - wb), read; every counter and spend at the bucket cleared for reuse (n - w_max),
 * written, and spend at n, read.
 */
static inline void ahead_close_counters(const struct tl_engine *e, const struct series *x,
					int64_t n)
{
	const uint32_t R = e->ring, slot = (uint32_t)(n & e->ring_mask);
	const uint32_t clear = (uint32_t)((n - e->w_max) & e->ring_mask);

	for (int w = 0; w < W_COUNT; w++) {
		const uint32_t old = (uint32_t)((n - x->wb[w]) & e->ring_mask);

		for (int k = 0; k < 2; k++) {
			const uint32_t *a = x->cnt + (size_t)win_counters[w][k] * R;

			__builtin_prefetch(a + slot, 0);
			if (old != clear) /* else the line is fetched below */
				__builtin_prefetch(a + old, 0);
		}
	}
	for (int c = 0; c < C_COUNT; c++)
		__builtin_prefetch(x->cnt + (size_t)c * R + clear, 1);
	__builtin_prefetch(x->spend + slot, 0);
	__builtin_prefetch(x->spend + clear, 1);
}

void tl_engine_advance(struct tl_engine *e, int64_t watermark_ns)
{
	enum { D_CLOSE_STRUCT = 8, D_CLOSE_COUNTERS = 4 };
	const int64_t b = e->o.bucket_ns;

	/* only bucket ends matter: a sharded engine sees the watermark at those alone */
	const int64_t target = tl_floor_div(watermark_ns, b) * b;

	if (target <= e->watermark)
		return;
	e->watermark = target;
	tl_dedup_advance(e->dedup, target);
	tl_dedup_advance(e->usage, target);

	if (e->closed_until == INT64_MIN) {
		/* the first watermark: close from the first bucket with data, or, if none is
		 * old enough, everything before the watermark at once; each series starts at
		 * its own first bucket, whatever else shares its shard */
		e->closed_until = e->first_bucket < target ? e->first_bucket : target;
		for (size_t i = 0; i < e->n_active; i++) {
			struct series *s = e->series[e->active[i]];

			if (s->last_close == INT64_MIN || s->last_close < e->closed_until)
				s->last_close = e->closed_until;
			s->last_minute = tl_floor_div(s->last_close, MINUTE) * MINUTE - MINUTE;
		}
	}
	while (e->closed_until < target) {
		if (e->n_active == 0) {
			e->closed_until = target;
			break;
		}
		const int64_t at = e->closed_until + b;
		const int64_t n = tl_floor_div(at, b) - 1;

		/* deactivate() moves only series already closed: active[0 .. i) stay put */
		for (size_t i = e->n_active; i-- > 0;) {
			struct series *s = e->series[e->active[i]];

			if (i >= D_CLOSE_STRUCT)
				ahead_close_struct(e->series[e->active[i - D_CLOSE_STRUCT]]);
			if (i >= D_CLOSE_COUNTERS)
				ahead_close_counters(e, e->series[e->active[i - D_CLOSE_COUNTERS]],
						     n);
			if (s->last_close >= at)
				continue; /* starts later (see the first watermark above) */
			close_bucket(e, s, n, at);
			if (is_idle(e, s, at))
				deactivate(e, s);
		}
		e->closed_until = at;
	}
}

int64_t tl_engine_ahead_ns(const struct tl_engine *e)
{
	return (int64_t)(e->ring - e->w_max) * e->o.bucket_ns;
}

int tl_engine_seed(struct tl_engine *e, const struct tl_event *ev, const struct tl_series_seed *sd,
		   int64_t from)
{
	/* times as events carry them (1970 to 2262) keep every difference below in range */
	if (e->closed_until != INT64_MIN || e->n_series || sd->horizon != e->horizon ||
	    from % MINUTE != 0 || from < MINUTE || sd->last_minute < 0 ||
	    sd->last_minute > INT64_MAX / 2 || from > INT64_MAX / 2)
		return -EINVAL;
	const int64_t mc = from - MINUTE; /* the last minute closed at @from */

	if (mc > sd->last_minute || sd->last_minute - mc >= (int64_t)(TL_SEED_MINUTES - 1) * MINUTE)
		return -EINVAL;
	struct series *s = find_series(e, ev);

	if (!s)
		return -ENOMEM;
	const struct tl_rules *r = s->rules;
	const int64_t need = r->latency.for_ns / MINUTE ? r->latency.for_ns / MINUTE : 1;
	const int64_t e_ref = r->refusal.window_ns / MINUTE;

	/* the minutes before @from, and which of them the baselines held then */
	for (uint32_t i = 0; i < sd->horizon; i++) {
		const int64_t m = sd->last_minute - (int64_t)(sd->horizon - 1 - i) * MINUTE;

		if (m > mc)
			break;
		if (m <= mc - (int64_t)e->horizon * MINUTE)
			continue;
		const uint32_t j = minute_slot(m, e->horizon);
		const uint8_t f = sd->mflag[i] & (MF_LAT_EXCL | MF_REF_EXCL | MF_LAT_BREACH);

		s->lat[j] = sd->lat[i] <= TL_HIST_BINS ? sd->lat[i] : 0;
		s->ref[j] = sd->ref[i];
		s->mflag[j] = f;
		if (s->lat[j] && !(f & MF_LAT_EXCL) && need < e->horizon &&
		    m <= mc - need * MINUTE) {
			s->lat_base[s->lat[j] - 1]++;
			s->lat_base_n++;
			s->mflag[j] |= MF_LAT_IN;
		}
		if (s->ref[j] && !(f & MF_REF_EXCL) && e_ref < e->horizon &&
		    m <= mc - e_ref * MINUTE) {
			ref_base_add(s, s->ref[j]);
			s->mflag[j] |= MF_REF_IN;
		}
	}
	/* the latency streak running into @from */
	s->lat_consec = 0;
	for (int64_t k = (sd->last_minute - mc) / MINUTE; k < sd->horizon; k++) {
		if (!(sd->mflag[sd->horizon - 1 - k] & MF_LAT_BREACH))
			break;
		s->lat_consec++;
	}
	/* spend: the sums at the end of the last minute with any, of the same day and hour */
	const int64_t k0 = (sd->last_minute - mc) / MINUTE;

	s->day = tl_floor_div(mc, DAY) * DAY;
	s->day_spend = 0;
	s->hour_spend = 0;
	for (int64_t k = k0; k < TL_SEED_MINUTES; k++) {
		const int64_t m = sd->at_min[k];

		if (m == INT64_MIN)
			continue;
		if (tl_floor_div(m, DAY) == tl_floor_div(mc, DAY))
			s->day_spend = sd->day_at[k];
		if (tl_floor_div(m, HOUR) == tl_floor_div(mc, HOUR) && from % HOUR != 0)
			s->hour_spend = sd->hour_at[k];
		break;
	}
	for (int64_t k = k0; k < TL_SEED_MINUTES; k++)
		s->min_spend[minute_slot(sd->last_minute - k * MINUTE, COST_MINUTES)] =
		    sd->min_spend[k];
	/* an hour pushed after @from was not there yet */
	const bool later = sd->last_hour_push != INT64_MIN && sd->last_hour_push > from;

	memcpy(s->hours, sd->hours + (later ? 1 : 0),
	       (COST_HOURS + (later ? 0 : 1)) * sizeof(float));
	s->hours_n = sd->hours_n > COST_HOURS ? COST_HOURS : (uint8_t)sd->hours_n;
	if (later && s->hours_n < COST_HOURS && s->hours_n > 0)
		s->hours_n--;
	s->last_hour_push = later ? INT64_MIN : sd->last_hour_push;
	s->hour_spike = !later && sd->hour_spike;
	s->hour_spike_value = sd->hour_spike_value;
	s->hour_median = sd->hour_median;
	while (s->cost_level < r->cost.n_warn && r->cost.daily_budget_usd > 0 &&
	       s->day_spend >= r->cost.warn_at[s->cost_level] * r->cost.daily_budget_usd)
		s->cost_level++;
	s->last_close = from;
	s->last_minute = mc;
	e->closed_until = from;
	e->watermark = from;
	tl_dedup_advance(e->dedup, from);
	tl_dedup_advance(e->usage, from);
	activate(e, s, s->idx);
	return s->active_pos == UINT32_MAX ? -ENOMEM : 0;
}

size_t tl_engine_series_count(const struct tl_engine *e)
{
	return e->n_series;
}

const struct tl_series_stats *tl_engine_series_at(const struct tl_engine *e, size_t i)
{
	return &e->series[i]->st;
}

size_t tl_engine_memory(const struct tl_engine *e)
{
	struct tl_dedup_stats d, u;

	tl_dedup_get_stats(e->dedup, &d);
	tl_dedup_get_stats(e->usage, &u);
	return sizeof(*e) + e->n_series * (e->block + sizeof(void *)) +
	       (e->index_mask + 1) * sizeof(struct index_slot) + e->cap_active * sizeof(uint32_t) +
	       e->hists_allocated * sizeof(struct tl_hist) + d.bytes + u.bytes;
}

int64_t tl_engine_watermark(const struct tl_engine *e)
{
	return e->watermark;
}

/* ---- checkpoints ------------------------------------------------------------------------ */

/*
 * The blob of tl_engine_save(), every field little-endian and fixed-width (f32/f64 as their
 * bits):
 *
 *   header   u8 magic[8] "TLENGINE", u32 version, u32 0, u64 body bytes, u64 tl_hash64 of the
 *            body (seed TL_HASH_SEED)
 *   geometry i64 bucket_ns, i64 lateness_ns, u32 horizon (minutes), u32 ring, u32 w_max,
 *            u32 max_series; then the layout constants (layout[] below) as u32
 *   engine   i64 watermark, i64 closed_until, i64 first_bucket, the 8 counts as u64
 *   names    u32 count, each u32 length and the bytes; a name is referred to as 1 + its
 *            position, 0 being the empty symbol
 *   active   u32 series, u32 active, u32 x active: the active list in its order
 *   series   each in table order, see save_series()
 *   windows  the duplicate window, then the usage window (tl_dedup_save())
 *
 * Not saved, because they are derived or are caches that give the same answers empty: the
 * pointers of a block, its rules (the current ones of its deployment; the window widths saved
 * only tell which window sums to take again), the series index, the baselines' code counts
 * (from the minutes' MF_*_IN flags), ref_med, recent_spend, the price cache, the bucket memo,
 * the histogram pool, and the triggers not yet taken.
 */
_Static_assert(sizeof(struct tl_engine_counts) == 8 * sizeof(uint64_t),
	       "a count added is saved and loaded in tl_engine_save() and tl_engine_load()");
_Static_assert(sizeof(struct tl_series_stats) == 4 * sizeof(uint32_t) + 15 * sizeof(uint64_t),
	       "a total added is saved and loaded in save_series() and load_series()");

#define CKPT_MAGIC   "TLENGINE"
#define CKPT_VERSION 2 /* 2: spend in nano-USD (i64), was f32 */
#define CKPT_HEADER  32

static const struct {
	const char *name;
	uint32_t value;
} layout[] = {
	{ "TL_HIST_BINS", TL_HIST_BINS },     { "TL_RULE_COUNT", TL_RULE_COUNT },
	{ "window rules", W_COUNT },          { "counters", C_COUNT },
	{ "open minutes", MAX_OPEN_MINUTES }, { "refusal codes", REF_CODES },
	{ "spend minutes", COST_MINUTES },    { "spend hours", COST_HOURS },
	{ "spend sums", SPEND_AT },
};

/* Appends in chunks: one tl_buf_put() per 4 KiB, not per field. */
struct writer {
	struct tl_buf *b;
	size_t n;
	unsigned char chunk[4096];
};

static void w_flush(struct writer *w)
{
	tl_buf_put(w->b, w->chunk, w->n);
	w->n = 0;
}

static void w_le(struct writer *w, uint64_t v, size_t width)
{
	if (sizeof(w->chunk) - w->n < width)
		w_flush(w);
	for (size_t i = 0; i < width; i++)
		w->chunk[w->n++] = (unsigned char)(v >> (8 * i));
}

static void w_u8(struct writer *w, uint8_t v)
{
	w_le(w, v, 1);
}

static void w_u16(struct writer *w, uint16_t v)
{
	w_le(w, v, 2);
}

static void w_u32(struct writer *w, uint32_t v)
{
	w_le(w, v, 4);
}

static void w_u64(struct writer *w, uint64_t v)
{
	w_le(w, v, 8);
}

static void w_i64(struct writer *w, int64_t v)
{
	w_le(w, (uint64_t)v, 8);
}

static void w_f32(struct writer *w, float v)
{
	uint32_t u;

	memcpy(&u, &v, sizeof(u));
	w_le(w, u, 4);
}

static void w_f64(struct writer *w, double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	w_le(w, u, 8);
}

static void w_bytes(struct writer *w, const void *p, size_t n)
{
	if (sizeof(w->chunk) - w->n < n) {
		w_flush(w);
		if (n > sizeof(w->chunk)) {
			tl_buf_put(w->b, p, n);
			return;
		}
	}
	memcpy(w->chunk + w->n, p, n);
	w->n += n;
}

/* Reads from the blob; a read past its end gives zeros and marks the reader short. */
struct reader {
	const unsigned char *p;
	size_t n;
	bool short_read;
};

static uint64_t r_le(struct reader *r, size_t width)
{
	uint64_t v = 0;

	if (r->n < width) {
		r->short_read = true;
		r->n = 0;
		return 0;
	}
	for (size_t i = 0; i < width; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += width;
	r->n -= width;
	return v;
}

static uint8_t r_u8(struct reader *r)
{
	return (uint8_t)r_le(r, 1);
}

static uint16_t r_u16(struct reader *r)
{
	return (uint16_t)r_le(r, 2);
}

static uint32_t r_u32(struct reader *r)
{
	return (uint32_t)r_le(r, 4);
}

static uint64_t r_u64(struct reader *r)
{
	return r_le(r, 8);
}

static int64_t r_i64(struct reader *r)
{
	return (int64_t)r_le(r, 8);
}

static float r_f32(struct reader *r)
{
	const uint32_t u = (uint32_t)r_le(r, 4);
	float v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

static double r_f64(struct reader *r)
{
	const uint64_t u = r_le(r, 8);
	double v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

static int cmp_u32(const void *a, const void *b)
{
	const uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The reference of symbol @sym in the names (@names sorted, @n of them). */
static uint32_t name_ref(const uint32_t *names, size_t n, uint32_t sym)
{
	size_t lo = 0, hi = n;

	if (!sym)
		return 0;
	while (lo < hi) {
		const size_t mid = lo + (hi - lo) / 2;

		if (names[mid] < sym)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (uint32_t)lo + 1;
}

/*
 * One series:
 *   u64 key; u32 name refs of resource, deployment, model, model_version
 *   i64 last_close, last_data, last_minute; the totals (14 u64, i64 nano-USD)
 *   u8 om_last, u8 open minutes, each: u8 slot, i64 minute, u32 n, u16 bins used, each
 *      u16 bin and u32 count, bins ascending
 *   u32 lat_consec, u64 win[W_COUNT][2], u32 wb[W_COUNT], u8 ref_breach_minute
 *   i64 day, f64 day_spend, hour_spend, minute_spend, u8 cost_level, hours_n, hour_spike,
 *   f32 hour_spike_value, hour_median
 *   per rule: u8 state, severity, i64 onset, fired_at, false_since, last_update,
 *      u64 incident, the impact (5 u64, f64 cost_usd)
 *   u32 cnt[C_COUNT][ring], i64 spend[ring] (nano-USD), u16 lat[H], u8 ref[H], u8 mflag[H]
 *   f32 min_spend[COST_MINUTES], f32 hours[COST_HOURS + 1], i64 last_hour_push
 *   f64 day_at[SPEND_AT], f64 hour_at[SPEND_AT], u64 at_valid, i64 at_last
 */
static void save_series(struct writer *w, const struct tl_engine *e, const struct series *s,
			const uint32_t *names, size_t n_names)
{
	const struct tl_series_stats *st = &s->st;
	uint8_t open = 0;

	w_u64(w, s->key);
	w_u32(w, name_ref(names, n_names, st->resource));
	w_u32(w, name_ref(names, n_names, st->deployment));
	w_u32(w, name_ref(names, n_names, st->model));
	w_u32(w, name_ref(names, n_names, st->model_version));
	w_i64(w, s->last_close);
	w_i64(w, s->last_data);
	w_i64(w, s->last_minute);
	const uint64_t totals[] = { st->requests,          st->status_2xx,       st->status_4xx,
				    st->status_429,        st->status_5xx,       st->status_other,
				    st->tokens_in,         st->tokens_out,       st->tokens_cached,
				    st->guardrail_checked, st->guardrail_failed, st->refusals,
				    st->metric_rows,       st->changes };

	for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++)
		w_u64(w, totals[i]);
	w_i64(w, s->cost_nusd);
	w_u8(w, s->om_last);
	for (int k = 0; k < MAX_OPEN_MINUTES; k++)
		open += s->om[k].minute != INT64_MIN;
	w_u8(w, open);
	for (int k = 0; k < MAX_OPEN_MINUTES; k++) {
		const struct open_minute *om = &s->om[k];
		uint16_t used = 0;

		if (om->minute == INT64_MIN)
			continue;
		w_u8(w, (uint8_t)k);
		w_i64(w, om->minute);
		w_u32(w, om->h->n);
		for (uint32_t b = 0; b < TL_HIST_BINS; b++)
			used += om->h->bins[b] != 0;
		w_u16(w, used);
		for (uint32_t b = 0; b < TL_HIST_BINS; b++) {
			if (!om->h->bins[b])
				continue;
			w_u16(w, (uint16_t)b);
			w_u32(w, om->h->bins[b]);
		}
	}
	w_u32(w, s->lat_consec);
	for (int i = 0; i < W_COUNT; i++) {
		w_u64(w, s->win[i][0]);
		w_u64(w, s->win[i][1]);
	}
	for (int i = 0; i < W_COUNT; i++)
		w_u32(w, s->wb[i]);
	w_u8(w, s->ref_breach_minute);
	w_i64(w, s->day);
	w_f64(w, s->day_spend);
	w_f64(w, s->hour_spend);
	w_f64(w, s->minute_spend);
	w_u8(w, s->cost_level);
	w_u8(w, s->hours_n);
	w_u8(w, s->hour_spike);
	w_f32(w, s->hour_spike_value);
	w_f32(w, s->hour_median);
	for (int r = 0; r < TL_RULE_COUNT; r++) {
		const struct rule_state *rs = &s->rs[r];

		w_u8(w, rs->state);
		w_u8(w, rs->severity);
		w_i64(w, rs->onset);
		w_i64(w, rs->fired_at);
		w_i64(w, rs->false_since);
		w_i64(w, rs->last_update);
		w_u64(w, rs->incident);
		w_u64(w, rs->impact.requests);
		w_u64(w, rs->impact.errors_5xx);
		w_u64(w, rs->impact.throttled_429);
		w_u64(w, rs->impact.guardrail_failed);
		w_u64(w, rs->impact.refusals);
		w_f64(w, rs->impact.cost_usd);
	}
	for (size_t i = 0; i < (size_t)C_COUNT * e->ring; i++)
		w_u32(w, s->cnt[i]);
	for (uint32_t i = 0; i < e->ring; i++)
		w_i64(w, s->spend[i]);
	for (uint32_t i = 0; i < e->horizon; i++)
		w_u16(w, s->lat[i]);
	w_bytes(w, s->ref, e->horizon);
	w_bytes(w, s->mflag, e->horizon);
	for (int i = 0; i < COST_MINUTES; i++)
		w_f32(w, s->min_spend[i]);
	for (int i = 0; i < COST_HOURS + 1; i++)
		w_f32(w, s->hours[i]);
	w_i64(w, s->last_hour_push);
	for (int i = 0; i < SPEND_AT; i++)
		w_f64(w, s->day_at[i]);
	for (int i = 0; i < SPEND_AT; i++)
		w_f64(w, s->hour_at[i]);
	w_u64(w, s->at_valid);
	w_i64(w, s->at_last);
}

static void put_le(unsigned char *p, uint64_t v, size_t width)
{
	for (size_t i = 0; i < width; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

int tl_engine_save(const struct tl_engine *e, struct tl_buf *out)
{
	const size_t start = out->n;
	struct writer *w = malloc(sizeof(*w));
	uint32_t *names = malloc((e->n_series * 4 + 1) * sizeof(*names));
	size_t n_names = 0;

	if (!w || !names) {
		free(w);
		free(names);
		return -ENOMEM;
	}
	/* the names the series use, each once, in symbol order */
	for (size_t i = 0; i < e->n_series; i++) {
		const struct tl_series_stats *st = &e->series[i]->st;
		const uint32_t sym[4] = { st->resource, st->deployment, st->model,
					  st->model_version };

		for (int k = 0; k < 4; k++)
			if (sym[k])
				names[n_names++] = sym[k];
	}
	qsort(names, n_names, sizeof(*names), cmp_u32);
	size_t u = 0;

	for (size_t i = 0; i < n_names; i++)
		if (u == 0 || names[i] != names[u - 1])
			names[u++] = names[i];
	n_names = u;

	w->b = out;
	w->n = 0;
	w_bytes(w, CKPT_MAGIC, 8);
	w_u32(w, CKPT_VERSION);
	w_u32(w, 0);
	w_u64(w, 0); /* the body's length and checksum, written last */
	w_u64(w, 0);
	w_i64(w, e->o.bucket_ns);
	w_i64(w, e->o.lateness_ns);
	w_u32(w, e->horizon);
	w_u32(w, e->ring);
	w_u32(w, e->w_max);
	w_u32(w, e->o.max_series);
	for (size_t i = 0; i < sizeof(layout) / sizeof(layout[0]); i++)
		w_u32(w, layout[i].value);
	w_i64(w, e->watermark);
	w_i64(w, e->closed_until);
	w_i64(w, e->first_bucket);
	const struct tl_engine_counts *c = &e->counts;
	const uint64_t counts[] = { c->decoded,         c->duplicate,      c->late,
				    c->dedup_unchecked, c->series_dropped, c->tokens_unpriced,
				    c->tokens_repeated, c->ahead };

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		w_u64(w, counts[i]);
	w_u32(w, (uint32_t)n_names);
	for (size_t i = 0; i < n_names; i++) {
		size_t len;
		const char *str = tl_symtab_str(e->syms, names[i], &len);

		w_u32(w, (uint32_t)len);
		w_bytes(w, str, len);
	}
	w_u32(w, (uint32_t)e->n_series);
	w_u32(w, (uint32_t)e->n_active);
	for (size_t i = 0; i < e->n_active; i++)
		w_u32(w, e->active[i]);
	for (size_t i = 0; i < e->n_series; i++)
		save_series(w, e, e->series[i], names, n_names);
	w_flush(w);
	free(w);
	free(names);
	tl_dedup_save(e->dedup, out);
	tl_dedup_save(e->usage, out);
	if (!tl_buf_ok(out))
		return -ENOMEM;
	const size_t body = out->n - start - CKPT_HEADER;
	unsigned char *h = (unsigned char *)out->p + start;

	put_le(h + 16, body, 8);
	put_le(h + 24, tl_hash64(h + CKPT_HEADER, body, TL_HASH_SEED), 8);
	return 0;
}

static int ckpt_error(int code, char *err, size_t errlen, const char *fmt, ...) TL_PRINTF(4, 5);

static int ckpt_error(int code, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		(void)vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int mismatch(char *err, size_t errlen, const char *what, long long saved, long long now)
{
	return ckpt_error(TL_EMISMATCH, err, errlen, "%s: saved %lld, now %lld", what, saved, now);
}

/*
 * Times a checkpoint may hold: INT64_MIN (none) or from 0 to 2^62 (years 1970 to 2116), so
 * that no difference the engine takes of two of them overflows. The engine closes no minute
 * before 1970 (its minute rings are indexed by the time's remainder).
 */
static bool time_ok(int64_t t)
{
	return t == INT64_MIN || (t >= 0 && t < (INT64_C(1) << 62));
}

/* A time that is set, and a multiple of @unit. */
static bool time_at(int64_t t, int64_t unit)
{
	return t != INT64_MIN && time_ok(t) && t % unit == 0;
}

static void series_free(struct series *s)
{
	if (!s)
		return;
	for (int k = 0; k < MAX_OPEN_MINUTES; k++)
		free(s->om[k].h);
	free(s);
}

/* Read the open minutes of @s; what is set is freed by series_free(). Return: as load_series. */
static int load_open_minutes(struct reader *r, struct series *s, uint32_t idx, char *err,
			     size_t errlen)
{
	const uint8_t open = r_u8(r);

	if (s->om_last >= MAX_OPEN_MINUTES || open > MAX_OPEN_MINUTES)
		goto out_bad;
	for (uint8_t i = 0; i < open; i++) {
		const uint8_t k = r_u8(r);
		const int64_t minute = r_i64(r);
		const uint32_t n = r_u32(r);
		const uint16_t used = r_u16(r);
		uint32_t sum = 0;
		int last = -1;

		if (r->short_read)
			goto out_bad;
		if (k >= MAX_OPEN_MINUTES || s->om[k].h || !time_at(minute, MINUTE) ||
		    om_find(s, minute) || used == 0 || used > TL_HIST_BINS)
			goto out_bad;
		struct tl_hist *h = calloc(1, sizeof(*h));

		if (!h)
			return -ENOMEM;
		s->om[k].h = h;
		s->om[k].minute = minute;
		h->n = n;
		for (uint16_t j = 0; j < used; j++) {
			const uint16_t b = r_u16(r);
			const uint32_t c = r_u32(r);

			if (b >= TL_HIST_BINS || (int)b <= last || c == 0)
				goto out_bad;
			h->bins[b] = c;
			sum += c; /* the counts wrap as n does */
			last = b;
		}
		if (sum != n)
			goto out_bad;
	}
	return 0;

out_bad:
	return ckpt_error(TL_ECORRUPT, err, errlen, "series %u: %s open minutes", idx,
			  r->short_read ? "truncated in its" : "impossible");
}

/*
 * Read series @idx into @s, a zeroed block with its arrays carved. @closed is the closed time
 * the checkpoint was taken at. Return: 0, TL_ECORRUPT, -ENOMEM.
 */
static int load_series(struct tl_engine *e, struct reader *r, const uint32_t *names,
		       uint32_t n_names, int64_t closed, struct series *s, uint32_t idx, char *err,
		       size_t errlen)
{
	struct tl_series_stats *st = &s->st;
	uint32_t *sym[4] = { &st->resource, &st->deployment, &st->model, &st->model_version };
	uint32_t wb[W_COUNT];
	const char *what = "";
	int ret;

	s->idx = idx;
	s->active_pos = UINT32_MAX;
	s->ref_med = -1;
	s->recent_m = INT64_MIN;
	for (int k = 0; k < MAX_OPEN_MINUTES; k++)
		s->om[k].minute = INT64_MIN;
	s->key = r_u64(r);
	for (int k = 0; k < 4; k++) {
		const uint32_t ref = r_u32(r);

		if (ref > n_names) {
			what = "a name";
			goto out_bad;
		}
		*sym[k] = ref ? names[ref - 1] : 0;
	}
	s->last_close = r_i64(r);
	s->last_data = r_i64(r);
	s->last_minute = r_i64(r);
	if ((s->last_close != INT64_MIN && !time_at(s->last_close, e->o.bucket_ns)) ||
	    (s->last_data != INT64_MIN && !time_at(s->last_data, e->o.bucket_ns)) ||
	    (s->last_minute != INT64_MIN && !time_at(s->last_minute, MINUTE))) {
		what = "times";
		goto out_bad;
	}
	uint64_t *totals[] = { &st->requests,          &st->status_2xx,       &st->status_4xx,
			       &st->status_429,        &st->status_5xx,       &st->status_other,
			       &st->tokens_in,         &st->tokens_out,       &st->tokens_cached,
			       &st->guardrail_checked, &st->guardrail_failed, &st->refusals,
			       &st->metric_rows,       &st->changes };

	for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++)
		*totals[i] = r_u64(r);
	s->cost_nusd = r_i64(r);
	if (s->cost_nusd < 0) {
		what = "cost";
		goto out_bad;
	}
	st->cost_usd = (double)s->cost_nusd / 1e9;
	s->om_last = r_u8(r);
	ret = load_open_minutes(r, s, idx, err, errlen);
	if (ret < 0)
		return ret;
	/* a streak longer than 2^24 minutes (32 years) would overflow its onset */
	s->lat_consec = r_u32(r);
	for (int i = 0; i < W_COUNT; i++) {
		s->win[i][0] = r_u64(r);
		s->win[i][1] = r_u64(r);
	}
	for (int i = 0; i < W_COUNT; i++)
		wb[i] = r_u32(r);
	const uint8_t rbm = r_u8(r);

	s->ref_breach_minute = rbm;
	s->day = r_i64(r);
	s->day_spend = r_f64(r);
	s->hour_spend = r_f64(r);
	s->minute_spend = r_f64(r);
	s->cost_level = r_u8(r);
	s->hours_n = r_u8(r);
	const uint8_t spike = r_u8(r);

	s->hour_spike = spike;
	s->hour_spike_value = r_f32(r);
	s->hour_median = r_f32(r);
	if (s->lat_consec > (1u << 24) || rbm > 1 || spike > 1 ||
	    (s->day != INT64_MIN && !time_at(s->day, DAY)) || s->cost_level > TL_COST_MAX_WARN ||
	    s->hours_n > COST_HOURS) {
		what = "latency or spend state";
		goto out_bad;
	}
	for (int k = 0; k < TL_RULE_COUNT; k++) {
		struct rule_state *rs = &s->rs[k];

		rs->state = r_u8(r);
		rs->severity = r_u8(r);
		rs->onset = r_i64(r);
		rs->fired_at = r_i64(r);
		rs->false_since = r_i64(r);
		rs->last_update = r_i64(r);
		rs->incident = r_u64(r);
		rs->impact.requests = r_u64(r);
		rs->impact.errors_5xx = r_u64(r);
		rs->impact.throttled_429 = r_u64(r);
		rs->impact.guardrail_failed = r_u64(r);
		rs->impact.refusals = r_u64(r);
		rs->impact.cost_usd = r_f64(r);
		/* onset, fired_at and last_update are set (0 before a first firing) */
		if (rs->state > ST_FIRING || rs->severity > 4 || !time_at(rs->onset, 1) ||
		    !time_at(rs->fired_at, 1) || !time_at(rs->last_update, 1) ||
		    !time_ok(rs->false_since)) {
			what = "rule state";
			goto out_bad;
		}
	}
	for (size_t i = 0; i < (size_t)C_COUNT * e->ring; i++)
		s->cnt[i] = r_u32(r);
	for (uint32_t i = 0; i < e->ring; i++)
		if ((s->spend[i] = r_i64(r)) < 0) {
			what = "spend";
			goto out_bad;
		}
	for (uint32_t i = 0; i < e->horizon; i++)
		s->lat[i] = r_u16(r);
	for (uint32_t i = 0; i < e->horizon; i++)
		s->ref[i] = r_u8(r);
	for (uint32_t i = 0; i < e->horizon; i++)
		s->mflag[i] = r_u8(r);
	for (int i = 0; i < COST_MINUTES; i++)
		s->min_spend[i] = r_f32(r);
	for (int i = 0; i < COST_HOURS + 1; i++)
		s->hours[i] = r_f32(r);
	s->last_hour_push = r_i64(r); /* only carried into seeds */
	for (int i = 0; i < SPEND_AT; i++)
		s->day_at[i] = r_f64(r);
	for (int i = 0; i < SPEND_AT; i++)
		s->hour_at[i] = r_f64(r);
	s->at_valid = r_u64(r);
	s->at_last = r_i64(r);
	if (s->at_last != INT64_MIN && !time_at(s->at_last, MINUTE)) {
		what = "times";
		goto out_bad;
	}
	/* the baselines' counts of codes are those of the minutes flagged in them */
	for (uint32_t j = 0; j < e->horizon; j++) {
		const uint8_t f = s->mflag[j];

		if (s->lat[j] > TL_HIST_BINS ||
		    (f & ~(MF_LAT_EXCL | MF_REF_EXCL | MF_LAT_IN | MF_REF_IN | MF_LAT_BREACH)) ||
		    ((f & MF_LAT_IN) && !s->lat[j]) || ((f & MF_REF_IN) && !s->ref[j])) {
			what = "baseline minutes";
			goto out_bad;
		}
		if (f & MF_LAT_IN) {
			s->lat_base[s->lat[j] - 1]++;
			s->lat_base_n++;
		}
		if (f & MF_REF_IN) {
			s->ref_base[s->ref[j] - 1]++;
			s->ref_base_n++;
		}
	}
	if (r->short_read)
		goto out_bad;
	/* the current rules of its deployment; a window whose width changed is summed again
	 * over the buckets the ring still holds (at most w_max, which is the same) */
	s->rules = rules_for(e, st->deployment);
	window_widths(s->rules, e->o.bucket_ns, s->wb);
	for (int i = 0; i < W_COUNT; i++) {
		if (s->wb[i] == wb[i] || closed == INT64_MIN || s->last_close == INT64_MIN)
			continue;
		const int64_t n = tl_floor_div(s->last_close, e->o.bucket_ns) - 1;

		for (int k = 0; k < 2; k++)
			s->win[i][k] = wsum(e, s, win_counters[i][k], n, s->wb[i]);
	}
	return 0;

out_bad:
	if (r->short_read)
		return ckpt_error(TL_ECORRUPT, err, errlen, "series %u: truncated", idx);
	return ckpt_error(TL_ECORRUPT, err, errlen, "series %u: impossible %s", idx, what);
}

static bool engine_fresh(const struct tl_engine *e)
{
	static const struct tl_engine_counts zero;

	return e->n_series == 0 && e->watermark == INT64_MIN && e->closed_until == INT64_MIN &&
	       e->first_bucket == INT64_MAX && memcmp(&e->counts, &zero, sizeof(zero)) == 0;
}

/* Compare the geometry the blob was taken with to @e's. Return: 0, TL_EMISMATCH. */
static int check_geometry(const struct tl_engine *e, struct reader *r, char *err, size_t errlen)
{
	const int64_t bucket = r_i64(r), lateness = r_i64(r);
	const uint32_t horizon = r_u32(r), ring = r_u32(r), w_max = r_u32(r);
	const uint32_t max_series = r_u32(r);
	uint32_t v[sizeof(layout) / sizeof(layout[0])];

	for (size_t i = 0; i < sizeof(layout) / sizeof(layout[0]); i++)
		v[i] = r_u32(r);
	if (r->short_read)
		return ckpt_error(TL_ECORRUPT, err, errlen, "truncated");
	if (bucket != e->o.bucket_ns)
		return mismatch(err, errlen, "bucket_ns", bucket, e->o.bucket_ns);
	if (lateness != e->o.lateness_ns)
		return mismatch(err, errlen, "lateness_ns", lateness, e->o.lateness_ns);
	if (horizon != e->horizon)
		return mismatch(err, errlen, "horizon (minutes)", horizon, e->horizon);
	if (w_max != e->w_max)
		return mismatch(err, errlen, "longest window (buckets, of the rules' windows)",
				w_max, e->w_max);
	if (ring != e->ring)
		return mismatch(err, errlen, "ring (buckets, from the windows and lateness)", ring,
				e->ring);
	if (max_series != e->o.max_series)
		return mismatch(err, errlen, "max_series", max_series, e->o.max_series);
	for (size_t i = 0; i < sizeof(layout) / sizeof(layout[0]); i++)
		if (v[i] != layout[i].value)
			return mismatch(err, errlen, layout[i].name, v[i], layout[i].value);
	return 0;
}

int tl_engine_load(struct tl_engine *e, const void *p, size_t n, char *err, size_t errlen)
{
	struct reader r = { .p = p, .n = n };
	struct series **series = NULL;
	struct index_slot *index = NULL;
	struct tl_dedup *dedup = NULL, *usage = NULL;
	uint32_t *names = NULL, *active = NULL, n_series = 0, n_active = 0, n_names;
	size_t index_mask = 1023, used, hists = 0;
	int ret;

	if (errlen)
		err[0] = '\0';
	if (!engine_fresh(e))
		return ckpt_error(-EINVAL, err, errlen, "the engine has taken events already");
	if (n < CKPT_HEADER)
		return ckpt_error(TL_ECORRUPT, err, errlen, "truncated: %zu bytes", n);
	if (memcmp(p, CKPT_MAGIC, 8) != 0)
		return ckpt_error(TL_ECORRUPT, err, errlen, "not an engine checkpoint");
	r.p += 8;
	r.n -= 8;
	const uint32_t version = r_u32(&r), zero = r_u32(&r);
	const uint64_t body = r_u64(&r), sum = r_u64(&r);

	if (version != CKPT_VERSION)
		return mismatch(err, errlen, "format version", version, CKPT_VERSION);
	if (zero != 0 || body != r.n)
		return ckpt_error(TL_ECORRUPT, err, errlen,
				  "truncated or overlong: %llu bytes of state, %zu there",
				  (unsigned long long)body, r.n);
	if (tl_hash64(r.p, r.n, TL_HASH_SEED) != sum)
		return ckpt_error(TL_ECORRUPT, err, errlen, "checksum mismatch");
	ret = check_geometry(e, &r, err, errlen);
	if (ret < 0)
		return ret;
	const int64_t watermark = r_i64(&r), closed = r_i64(&r), first_bucket = r_i64(&r);
	struct tl_engine_counts counts;
	uint64_t *count[] = {
		&counts.decoded,         &counts.duplicate,      &counts.late,
		&counts.dedup_unchecked, &counts.series_dropped, &counts.tokens_unpriced,
		&counts.tokens_repeated, &counts.ahead
	};

	for (size_t i = 0; i < sizeof(count) / sizeof(count[0]); i++)
		*count[i] = r_u64(&r);
	if (r.short_read)
		goto out_truncated;
	/* every advance closes up to its watermark */
	if ((watermark != INT64_MIN && !time_at(watermark, e->o.bucket_ns)) ||
	    closed != watermark ||
	    (first_bucket != INT64_MAX && !time_at(first_bucket, e->o.bucket_ns))) {
		ret = ckpt_error(TL_ECORRUPT, err, errlen, "impossible watermark");
		goto out_free;
	}
	/* the names, each taking at least 4 bytes */
	n_names = r_u32(&r);
	if (n_names > r.n / 4)
		goto out_truncated;
	names = malloc(((size_t)n_names + 1) * sizeof(*names));
	if (!names) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (uint32_t i = 0; i < n_names; i++) {
		const uint32_t len = r_u32(&r);

		if (len > r.n)
			goto out_truncated;
		if (len == 0 || len > 4096) {
			ret = ckpt_error(TL_ECORRUPT, err, errlen, "impossible name");
			goto out_free;
		}
		ret = tl_symtab_intern(e->syms, (const char *)r.p, len, &names[i]);
		if (ret < 0) {
			(void)ckpt_error(ret, err, errlen, "names: %s", tl_strerror(ret));
			goto out_free;
		}
		r.p += len;
		r.n -= len;
	}
	n_series = r_u32(&r);
	n_active = r_u32(&r);
	if (r.short_read) {
		n_series = 0;
		goto out_truncated;
	}
	if (n_series > e->o.max_series || n_active > n_series) {
		ret = ckpt_error(TL_ECORRUPT, err, errlen, "impossible series count");
		goto out_free;
	}
	/* a series takes at least its counters */
	if (n_series > r.n / ((size_t)C_COUNT * e->ring * 4) || n_active > r.n / 4)
		goto out_truncated;
	series = calloc(n_series ? n_series : 1, sizeof(*series));
	active = malloc((n_active ? n_active : 1) * sizeof(*active));
	if (!series || !active) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (uint32_t i = 0; i < n_active; i++)
		active[i] = r_u32(&r);
	if (r.short_read)
		goto out_truncated;
	for (uint32_t i = 0; i < n_series; i++) {
		series[i] = calloc(1, e->block);
		if (!series[i]) {
			ret = -ENOMEM;
			goto out_free;
		}
		series_carve(e, series[i]);
		ret = load_series(e, &r, names, n_names, closed, series[i], i, err, errlen);
		if (ret < 0)
			goto out_free;
		for (int k = 0; k < MAX_OPEN_MINUTES; k++)
			hists += series[i]->om[k].h != NULL;
	}
	for (uint32_t i = 0; i < n_active; i++) {
		if (active[i] >= n_series || series[active[i]]->active_pos != UINT32_MAX) {
			ret = ckpt_error(TL_ECORRUPT, err, errlen, "impossible active series");
			goto out_free;
		}
		series[active[i]]->active_pos = i;
	}
	/* the index, as large as find_series() would have grown it */
	while (n_series * (size_t)2 > index_mask)
		index_mask = index_mask * 2 + 1;
	index = calloc(index_mask + 1, sizeof(*index));
	if (!index) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (uint32_t i = 0; i < n_series; i++) {
		size_t j = series[i]->key & index_mask;

		while (index[j].s && index[j].key != series[i]->key)
			j = (j + 1) & index_mask;
		if (index[j].s) {
			ret =
			    ckpt_error(TL_ECORRUPT, err, errlen, "series %u: a key seen before", i);
			goto out_free;
		}
		index[j] = (struct index_slot){ .key = series[i]->key, .s = series[i] };
	}
	dedup = tl_dedup_new(&e->o.dedup);
	usage = tl_dedup_new(&e->o.dedup);
	if (!dedup || !usage) {
		ret = -ENOMEM;
		goto out_free;
	}
	ret = tl_dedup_load(dedup, r.p, r.n, &used, err, errlen);
	if (ret < 0)
		goto out_free;
	r.p += used;
	r.n -= used;
	ret = tl_dedup_load(usage, r.p, r.n, &used, err, errlen);
	if (ret < 0)
		goto out_free;
	if (used != r.n) {
		ret = ckpt_error(TL_ECORRUPT, err, errlen, "%zu bytes after the state", r.n - used);
		goto out_free;
	}
	/* all read: the engine takes it */
	free(e->series);
	e->series = series;
	e->n_series = e->cap_series = n_series;
	free(e->index);
	e->index = index;
	e->index_mask = index_mask;
	free(e->active);
	e->active = active;
	e->n_active = e->cap_active = n_active;
	e->hists_allocated += hists;
	tl_dedup_free(e->dedup);
	tl_dedup_free(e->usage);
	e->dedup = dedup;
	e->usage = usage;
	e->counts = counts;
	e->watermark = watermark;
	e->closed_until = closed;
	e->first_bucket = first_bucket;
	free(names);
	return 0;

out_truncated:
	ret = ckpt_error(TL_ECORRUPT, err, errlen, "truncated");
out_free:
	for (uint32_t i = 0; series && i < n_series; i++)
		series_free(series[i]);
	free(series);
	free(active);
	free(index);
	free(names);
	tl_dedup_free(dedup);
	tl_dedup_free(usage);
	if (errlen && !err[0]) /* out of memory */
		(void)snprintf(err, errlen, "%s", tl_strerror(ret));
	return ret;
}
