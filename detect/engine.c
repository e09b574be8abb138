/*
 * detect/engine.c - the detection engine (see tripline/engine.h).
 *
 * Series live in a dense array indexed through an open-addressing table on the series key;
 * the array grows by doubling (amortized, never per event) up to max_series.
 * Pure: no I/O, no clock, no threads. Thread: the owning shard.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/engine.h>
#include <tripline/hash.h>
#include <tripline/time.h>

#define TL_PRICE_CACHE 256

struct price_slot {
	uint32_t model, version; /* symbols; model 0 = empty slot */
	int32_t price;           /* index into prices, -1 = none */
};

struct tl_engine {
	struct tl_engine_opts o;
	struct tl_symtab *syms;
	struct tl_dedup *dedup;
	struct tl_dedup *usage; /* requests whose tokens were counted */
	struct tl_engine_counts counts;
	int64_t watermark;    /* INT64_MIN until the first advance */
	int64_t closed_until; /* buckets before this time are closed */

	struct tl_series_stats *series;
	size_t n_series, cap_series;
	uint32_t *index; /* 1 + position in series[], 0 = empty */
	uint64_t *keys;
	size_t index_mask;

	struct price_slot price_cache[TL_PRICE_CACHE];
};

struct tl_engine *tl_engine_new(const struct tl_engine_opts *opts, struct tl_symtab *syms)
{
	struct tl_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	if (opts)
		e->o = *opts;
	if (e->o.lateness_ns <= 0)
		e->o.lateness_ns = 2 * TL_NS_PER_MIN;
	if (e->o.bucket_ns <= 0)
		e->o.bucket_ns = 10 * TL_NS_PER_S;
	if (e->o.dedup.slice_ns <= 0)
		e->o.dedup.slice_ns = e->o.lateness_ns;
	if (e->o.max_series == 0)
		e->o.max_series = 1u << 20;
	e->syms = syms;
	e->watermark = INT64_MIN;
	e->closed_until = INT64_MIN;
	e->index_mask = 1023;
	e->index = calloc(e->index_mask + 1, sizeof(*e->index));
	e->keys = calloc(e->index_mask + 1, sizeof(*e->keys));
	e->dedup = tl_dedup_new(&e->o.dedup);
	e->usage = tl_dedup_new(&e->o.dedup);
	if (!e->index || !e->keys || !e->dedup || !e->usage) {
		tl_engine_free(e);
		return NULL;
	}
	return e;
}

void tl_engine_free(struct tl_engine *e)
{
	if (!e)
		return;
	tl_dedup_free(e->dedup);
	tl_dedup_free(e->usage);
	free(e->series);
	free(e->index);
	free(e->keys);
	free(e);
}

static bool grow_index(struct tl_engine *e)
{
	size_t mask = e->index_mask * 2 + 1;
	uint32_t *index = calloc(mask + 1, sizeof(*index));
	uint64_t *keys = calloc(mask + 1, sizeof(*keys));

	if (!index || !keys) {
		free(index);
		free(keys);
		return false;
	}
	for (size_t i = 0; i <= e->index_mask; i++) {
		if (!e->index[i])
			continue;
		size_t j = e->keys[i] & mask;

		while (index[j])
			j = (j + 1) & mask;
		index[j] = e->index[i];
		keys[j] = e->keys[i];
	}
	free(e->index);
	free(e->keys);
	e->index = index;
	e->keys = keys;
	e->index_mask = mask;
	return true;
}

static struct tl_series_stats *find_series(struct tl_engine *e, const struct tl_event *ev)
{
	size_t i = ev->series & e->index_mask;

	for (; e->index[i]; i = (i + 1) & e->index_mask)
		if (e->keys[i] == ev->series)
			return &e->series[e->index[i] - 1];
	if (e->n_series >= e->o.max_series)
		return NULL;
	if (e->n_series == e->cap_series) {
		size_t cap = e->cap_series ? e->cap_series * 2 : 64;
		struct tl_series_stats *s = realloc(e->series, cap * sizeof(*s));

		if (!s)
			return NULL;
		e->series = s;
		e->cap_series = cap;
	}
	struct tl_series_stats *s = &e->series[e->n_series];

	memset(s, 0, sizeof(*s));
	s->resource = ev->resource;
	s->deployment = ev->deployment;
	e->n_series++;
	e->index[i] = (uint32_t)e->n_series;
	e->keys[i] = ev->series;
	if (e->n_series * 2 > e->index_mask && !grow_index(e)) {
		/* the table still works, only fuller; the next insert tries again */
	}
	return s;
}

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

static void add_tokens(struct tl_engine *e, struct tl_series_stats *s, const struct tl_event *ev)
{
	const uint32_t in = ev->u.req.tokens_in, out = ev->u.req.tokens_out;
	const uint32_t cached = ev->u.req.tokens_cached < in ? ev->u.req.tokens_cached : in;
	const uint32_t model = ev->model ? ev->model : s->model;
	const uint32_t version = ev->model ? ev->model_version : s->model_version;

	/* a request's tokens reported twice (gateway body and GatewayLlmLogs) count once */
	if (ev->usage_key &&
	    tl_dedup_check(e->usage, ev->time_ns, ev->usage_key) == TL_DEDUP_DUPLICATE) {
		e->counts.tokens_repeated += (uint64_t)in + out;
		return;
	}
	s->tokens_in += in;
	s->tokens_out += out;
	s->tokens_cached += cached;
	if (in + (uint64_t)out == 0)
		return;
	int32_t p = model ? find_price(e, model, version) : -1;

	if (p < 0) {
		e->counts.tokens_unpriced += (uint64_t)in + out;
		return;
	}
	const struct tl_price *pr = &e->o.prices[p];
	const double cached_price = pr->cached_input >= 0 ? pr->cached_input : pr->input;

	s->cost_usd += ((double)(in - cached) * pr->input + (double)cached * cached_price +
			(double)out * pr->output) /
		       1e6;
}

void tl_engine_push(struct tl_engine *e, const struct tl_event *ev)
{
	struct tl_series_stats *s;

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
	if (ev->time_ns < e->closed_until)
		e->counts.late++;
	s = find_series(e, ev);
	if (!s) {
		e->counts.series_dropped++;
		return;
	}
	if (ev->model) {
		s->model = ev->model;
		s->model_version = ev->model_version;
	}
	switch (ev->kind) {
	case TL_EV_REQUEST:
		s->requests++;
		switch (tl_status_class(ev->status)) {
		case 2:
			s->status_2xx++;
			break;
		case 4:
			s->status_4xx++;
			break;
		case 29:
			s->status_429++;
			break;
		case 5:
			s->status_5xx++;
			break;
		default:
			s->status_other++;
			break;
		}
		s->guardrail_checked += (ev->flags & TL_EVF_GUARDRAIL_CHECKED) != 0;
		s->guardrail_failed += (ev->flags & TL_EVF_GUARDRAIL_FAILED) != 0;
		s->refusals += (ev->flags & TL_EVF_REFUSAL) != 0;
		if (ev->flags & TL_EVF_TOKENS)
			add_tokens(e, s, ev);
		break;
	case TL_EV_USAGE:
		if (ev->flags & TL_EVF_TOKENS)
			add_tokens(e, s, ev);
		break;
	case TL_EV_METRIC:
		s->metric_rows++;
		break;
	case TL_EV_CHANGE:
		s->changes++;
		break;
	default:
		break;
	}
}

void tl_engine_advance(struct tl_engine *e, int64_t watermark_ns)
{
	if (watermark_ns <= e->watermark)
		return;
	e->watermark = watermark_ns;
	e->closed_until = tl_floor_div(watermark_ns, e->o.bucket_ns) * e->o.bucket_ns;
}

const struct tl_engine_counts *tl_engine_get_counts(const struct tl_engine *e)
{
	return &e->counts;
}

const struct tl_series_stats *tl_engine_series(const struct tl_engine *e, size_t *ret_n)
{
	*ret_n = e->n_series;
	return e->series;
}

int64_t tl_engine_lateness(const struct tl_engine *e)
{
	return e->o.lateness_ns;
}
