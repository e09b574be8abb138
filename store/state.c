/*
 * store/state.c - the replay state's text form (see tripline/state.h).
 *
 * Layout, little-endian: "TLS" and the version byte; the six engine durations (i64); the
 * rules, field by field in the order of RULE_FIELDS, then fallback and owner (u16 length,
 * bytes) and, from version 2, incident_commander and comms_owner (the same); the price table
 * (u32 count, then per price: name (u16 length, bytes), input, cached_input, output (f64));
 * resource and deployment (u16 length, bytes); from (i64); the seed: last_minute (i64),
 * horizon (u32), lat (u16 each), ref, mflag (u8 each), then the per-minute spend arrays,
 * hours, and the hourly rule's state. Text: base64 of all that.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/state.h>
#include <tripline/time.h>

#define MAX_HORIZON (30 * 24 * 60) /* minutes: the config's bound on baseline.horizon */
#define MAX_PRICES  4096

/* Each rule field: its kind (b bool, d double, i int64, u uint32) and where it is. */
#define RATE_FIELDS(X, r) \
	X(b, r.enabled) X(d, r.rate) X(i, r.window_ns) X(u, r.min_requests) X(d, r.severe_rate)
#define RULE_FIELDS(X)              \
	X(b, latency.enabled)       \
	X(d, latency.statistic)     \
	X(d, latency.factor)        \
	X(i, latency.for_ns)        \
	X(u, latency.min_requests)  \
	X(d, latency.severe_factor) \
	RATE_FIELDS(X, guardrail)   \
	RATE_FIELDS(X, errors)      \
	RATE_FIELDS(X, throttling)  \
	X(b, refusal.enabled)       \
	X(d, refusal.rate)          \
	X(d, refusal.factor)        \
	X(i, refusal.window_ns)     \
	X(u, refusal.min_requests)  \
	X(d, refusal.severe_rate)   \
	X(b, cost.enabled)          \
	X(d, cost.daily_budget_usd) \
	X(d, cost.warn_at[0])       \
	X(d, cost.warn_at[1])       \
	X(d, cost.warn_at[2])       \
	X(d, cost.warn_at[3])       \
	X(d, cost.warn_at[4])       \
	X(d, cost.warn_at[5])       \
	X(d, cost.warn_at[6])       \
	X(d, cost.warn_at[7])       \
	X(u, cost.n_warn)           \
	X(d, cost.hourly_factor)    \
	X(i, cost.rate_window_ns)

_Static_assert(TL_COST_MAX_WARN == 8, "RULE_FIELDS lists warn_at[0..7]");

/* ---- writing ---------------------------------------------------------------------------- */

struct out {
	unsigned char *p;
	size_t n, cap;
	bool oom;
};

static void put(struct out *o, const void *s, size_t n)
{
	if (o->oom)
		return;
	if (o->n + n > o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 4096;

		while (cap < o->n + n)
			cap *= 2;
		unsigned char *p = realloc(o->p, cap);

		if (!p) {
			o->oom = true;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
}

static void put_le(struct out *o, uint64_t v, int bytes)
{
	unsigned char b[8];

	for (int i = 0; i < bytes; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	put(o, b, (size_t)bytes);
}

static void put_i(struct out *o, int64_t v)
{
	put_le(o, (uint64_t)v, 8);
}

static void put_d(struct out *o, double v)
{
	uint64_t u;

	memcpy(&u, &v, 8);
	put_le(o, u, 8);
}

static void put_f(struct out *o, float v)
{
	uint32_t u;

	memcpy(&u, &v, 4);
	put_le(o, u, 4);
}

static void put_str(struct out *o, const char *s)
{
	size_t n = strlen(s);

	if (n > UINT16_MAX)
		n = UINT16_MAX;
	put_le(o, n, 2);
	put(o, s, n);
}

#define PUT_b(o, v) put_le(o, (v) ? 1 : 0, 1)
#define PUT_d(o, v) put_d(o, v)
#define PUT_i(o, v) put_i(o, v)
#define PUT_u(o, v) put_le(o, v, 4)

void tl_state_encode(const struct tl_replay_state *st, struct tl_buf *b)
{
	struct out o = { 0 };
	const struct tl_rules *r = &st->rules;
	const struct tl_series_seed *sd = st->seed;

	/* version 1 when it says all there is: what older readers take */
	const bool v2 = r->incident_commander[0] || r->comms_owner[0];

	put(&o, "TLS", 3);
	put_le(&o, v2 ? TL_STATE_VERSION : 1, 1);
	put_i(&o, st->lateness_ns);
	put_i(&o, st->bucket_ns);
	put_i(&o, st->horizon_ns);
	put_i(&o, st->min_history_ns);
	put_i(&o, st->hold_ns);
	put_i(&o, st->update_every_ns);
#define X(kind, f) PUT_##kind(&o, r->f);
	RULE_FIELDS(X)
#undef X
	put_str(&o, r->fallback);
	put_str(&o, r->owner);
	if (v2) {
		put_str(&o, r->incident_commander);
		put_str(&o, r->comms_owner);
	}
	put_le(&o, st->n_prices, 4);
	for (size_t i = 0; i < st->n_prices; i++) {
		put_str(&o, st->prices[i].model);
		put_d(&o, st->prices[i].input);
		put_d(&o, st->prices[i].cached_input);
		put_d(&o, st->prices[i].output);
	}
	put_str(&o, st->resource);
	put_str(&o, st->deployment);
	put_i(&o, st->from);
	put_i(&o, sd->last_minute);
	put_le(&o, sd->horizon, 4);
	for (uint32_t i = 0; i < sd->horizon; i++)
		put_le(&o, sd->lat[i], 2);
	put(&o, sd->ref, sd->horizon);
	put(&o, sd->mflag, sd->horizon);
	for (int i = 0; i < TL_SEED_MINUTES; i++) {
		put_i(&o, sd->at_min[i]);
		put_d(&o, sd->day_at[i]);
		put_d(&o, sd->hour_at[i]);
		put_f(&o, sd->min_spend[i]);
	}
	for (int i = 0; i < TL_SEED_HOURS; i++)
		put_f(&o, sd->hours[i]);
	put_le(&o, sd->hours_n, 4);
	put_i(&o, sd->last_hour_push);
	put_le(&o, sd->hour_spike ? 1 : 0, 1);
	put_f(&o, sd->hour_spike_value);
	put_f(&o, sd->hour_median);
	if (o.oom)
		b->oom = true;
	else
		tl_buf_base64(b, o.p, o.n);
	free(o.p);
}

/* ---- reading ---------------------------------------------------------------------------- */

struct in {
	const unsigned char *p;
	size_t n, off;
	bool bad;
};

static uint64_t get_le(struct in *in, int bytes)
{
	uint64_t v = 0;

	if (in->bad || in->n - in->off < (size_t)bytes) {
		in->bad = true;
		return 0;
	}
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)in->p[in->off + (size_t)i] << (8 * i);
	in->off += (size_t)bytes;
	return v;
}

static int64_t get_i(struct in *in)
{
	return (int64_t)get_le(in, 8);
}

static double get_d(struct in *in)
{
	uint64_t u = get_le(in, 8);
	double v;

	memcpy(&v, &u, 8);
	return v;
}

static float get_f(struct in *in)
{
	uint32_t u = (uint32_t)get_le(in, 4);
	float v;

	memcpy(&v, &u, 4);
	return v;
}

/* A string into @dst of @cap bytes (NUL-terminated); too long or holding a NUL is bad. */
static void get_str(struct in *in, char *dst, size_t cap)
{
	size_t n = (size_t)get_le(in, 2);

	if (in->bad || n >= cap || in->n - in->off < n || memchr(in->p + in->off, 0, n)) {
		in->bad = true;
		dst[0] = 0;
		return;
	}
	memcpy(dst, in->p + in->off, n);
	dst[n] = 0;
	in->off += n;
}

static int b64(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Base64 text to bytes; NULL (and *@ret_n 0) for text that is not base64. */
static unsigned char *unbase64(const char *s, size_t n, size_t *ret_n, bool *oom)
{
	unsigned char *out;
	size_t k = 0;

	*ret_n = 0;
	if (n % 4)
		return NULL;
	if (!(out = malloc(n / 4 * 3 + 1))) {
		*oom = true;
		return NULL;
	}
	for (size_t i = 0; i < n; i += 4) {
		int v[4];

		for (int j = 0; j < 4; j++)
			v[j] = b64((unsigned char)s[i + (size_t)j]);
		const bool last = i + 4 == n;
		const int pad = last && s[i + 3] == '=' ? (s[i + 2] == '=' ? 2 : 1) : 0;

		if (v[0] < 0 || v[1] < 0 || (pad < 2 && v[2] < 0) || (pad < 1 && v[3] < 0)) {
			free(out);
			return NULL;
		}
		const unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 |
				   (pad < 2 ? (unsigned)v[2] << 6 : 0) |
				   (pad < 1 ? (unsigned)v[3] : 0);

		out[k++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[k++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[k++] = (unsigned char)w;
	}
	*ret_n = k;
	return out;
}

static bool finite_nonneg(double v)
{
	return isfinite(v) && v >= 0;
}

/* Settings an engine can run with: positive durations, rates and factors in range. */
static const char *check(const struct tl_replay_state *st)
{
	const struct tl_rules *r = &st->rules;

	/* the bounds tools/config.c puts on the same keys: an engine that runs in bounded time
	 * and memory, whatever the file says */
	if (st->bucket_ns < TL_NS_PER_S || st->bucket_ns > TL_NS_PER_MIN ||
	    TL_NS_PER_MIN % st->bucket_ns != 0 || st->lateness_ns < TL_NS_PER_S ||
	    st->lateness_ns > 24 * TL_NS_PER_HOUR || st->horizon_ns < TL_NS_PER_HOUR ||
	    st->horizon_ns > (int64_t)MAX_HORIZON * TL_NS_PER_MIN ||
	    st->min_history_ns < TL_NS_PER_MIN || st->min_history_ns > 30 * 24 * TL_NS_PER_HOUR ||
	    st->hold_ns < 10 * TL_NS_PER_S || st->hold_ns > 24 * TL_NS_PER_HOUR ||
	    st->update_every_ns < TL_NS_PER_MIN || st->update_every_ns > 24 * TL_NS_PER_HOUR)
		return "engine settings out of range";
	if (!(r->latency.statistic > 0 && r->latency.statistic < 1) ||
	    !finite_nonneg(r->latency.factor) || !finite_nonneg(r->latency.severe_factor) ||
	    r->latency.for_ns < TL_NS_PER_MIN || r->latency.for_ns > 24 * TL_NS_PER_HOUR)
		return "latency rule out of range";
	const struct tl_rule_rate *rr[] = { &r->guardrail, &r->errors, &r->throttling };

	for (size_t i = 0; i < 3; i++)
		if (!finite_nonneg(rr[i]->rate) || !finite_nonneg(rr[i]->severe_rate) ||
		    rr[i]->window_ns < 10 * TL_NS_PER_S || rr[i]->window_ns > TL_NS_PER_HOUR)
			return "rate rule out of range";
	if (!finite_nonneg(r->refusal.rate) || !finite_nonneg(r->refusal.factor) ||
	    !finite_nonneg(r->refusal.severe_rate) || r->refusal.window_ns < 10 * TL_NS_PER_S ||
	    r->refusal.window_ns > TL_NS_PER_HOUR)
		return "refusal rule out of range";
	if (!finite_nonneg(r->cost.daily_budget_usd) || r->cost.n_warn > TL_COST_MAX_WARN ||
	    !finite_nonneg(r->cost.hourly_factor) || r->cost.rate_window_ns < TL_NS_PER_MIN ||
	    r->cost.rate_window_ns > 64 * TL_NS_PER_MIN)
		return "cost rule out of range";
	for (uint32_t i = 0; i < r->cost.n_warn; i++)
		if (!finite_nonneg(r->cost.warn_at[i]))
			return "cost rule out of range";
	for (size_t i = 0; i < st->n_prices; i++)
		if (!isfinite(st->prices[i].input) || !isfinite(st->prices[i].cached_input) ||
		    !isfinite(st->prices[i].output))
			return "price out of range";
	if (st->seed->horizon != (uint32_t)(st->horizon_ns / TL_NS_PER_MIN) &&
	    !(st->horizon_ns < 60 * TL_NS_PER_MIN && st->seed->horizon == 60))
		return "seed does not match the horizon";
	/* event times are 1970 to 2262; these bounds keep every sum of them in range */
	if (st->from % TL_NS_PER_MIN != 0 || st->from < TL_NS_PER_MIN || st->from > INT64_MAX / 2 ||
	    st->seed->last_minute < 0 || st->seed->last_minute > INT64_MAX / 2)
		return "start or series state out of range";
	return NULL;
}

#define GET_b(in, f) f = get_le(in, 1) != 0
#define GET_d(in, f) f = get_d(in)
#define GET_i(in, f) f = get_i(in)
#define GET_u(in, f) f = (uint32_t)get_le(in, 4)

int tl_state_decode(const char *text, size_t n, struct tl_replay_state *st, char *err,
		    size_t errlen)
{
	bool oom = false;
	size_t len;
	unsigned char *bin = unbase64(text, n, &len, &oom);
	struct in in = { .p = bin, .n = len };
	const char *why = NULL;

	memset(st, 0, sizeof(*st));
	if (!bin) {
		if (oom)
			return -ENOMEM;
		(void)snprintf(err, errlen, "replay_state: not base64");
		return TL_EVALUE;
	}
	if (len < 4 || memcmp(bin, "TLS", 3) != 0) {
		why = "not a replay state";
		goto bad;
	}
	in.off = 3;
	const uint64_t version = get_le(&in, 1);

	if (version != 1 && version != TL_STATE_VERSION) {
		why = "a replay state of another version of tripline";
		goto bad;
	}
	st->lateness_ns = get_i(&in);
	st->bucket_ns = get_i(&in);
	st->horizon_ns = get_i(&in);
	st->min_history_ns = get_i(&in);
	st->hold_ns = get_i(&in);
	st->update_every_ns = get_i(&in);
	tl_rules_defaults(&st->rules);
	struct tl_rules *r = &st->rules;

#define X(kind, f) GET_##kind(&in, r->f);
	RULE_FIELDS(X)
#undef X
	get_str(&in, r->fallback, sizeof(r->fallback));
	get_str(&in, r->owner, sizeof(r->owner));
	if (version >= 2) {
		get_str(&in, r->incident_commander, sizeof(r->incident_commander));
		get_str(&in, r->comms_owner, sizeof(r->comms_owner));
	}
	const uint32_t np = (uint32_t)get_le(&in, 4);

	if (in.bad || np > MAX_PRICES) {
		why = "bad price table";
		goto bad;
	}
	st->prices = calloc(np ? np : 1, sizeof(*st->prices));
	st->names = malloc((size_t)(np ? np : 1) * 256);
	if (!st->prices || !st->names)
		goto oom;
	for (uint32_t i = 0; i < np && !in.bad; i++) {
		char *name = st->names + (size_t)i * 256;

		get_str(&in, name, 256);
		st->prices[i] = (struct tl_price){ .model = name,
						   .input = get_d(&in),
						   .cached_input = get_d(&in),
						   .output = get_d(&in) };
	}
	st->n_prices = np;
	get_str(&in, st->resource, sizeof(st->resource));
	get_str(&in, st->deployment, sizeof(st->deployment));
	st->from = get_i(&in);
	const int64_t last_minute = get_i(&in);
	const uint32_t horizon = (uint32_t)get_le(&in, 4);

	if (in.bad || horizon == 0 || horizon > MAX_HORIZON || !st->deployment[0] ||
	    last_minute % TL_NS_PER_MIN != 0) {
		why = "bad series state";
		goto bad;
	}
	if (!(st->seed = tl_series_seed_new(horizon)))
		goto oom;
	struct tl_series_seed *sd = st->seed;

	sd->last_minute = last_minute;
	for (uint32_t i = 0; i < horizon; i++)
		sd->lat[i] = (uint16_t)get_le(&in, 2);
	for (uint32_t i = 0; i < horizon; i++)
		sd->ref[i] = (uint8_t)get_le(&in, 1);
	for (uint32_t i = 0; i < horizon; i++)
		sd->mflag[i] = (uint8_t)get_le(&in, 1);
	for (int i = 0; i < TL_SEED_MINUTES; i++) {
		sd->at_min[i] = get_i(&in);
		sd->day_at[i] = get_d(&in);
		sd->hour_at[i] = get_d(&in);
		sd->min_spend[i] = get_f(&in);
		if (!isfinite(sd->day_at[i]) || !isfinite(sd->hour_at[i]) ||
		    !isfinite(sd->min_spend[i]))
			in.bad = true;
	}
	for (int i = 0; i < TL_SEED_HOURS; i++)
		if (!isfinite(sd->hours[i] = get_f(&in)))
			in.bad = true;
	sd->hours_n = (uint32_t)get_le(&in, 4);
	sd->last_hour_push = get_i(&in);
	sd->hour_spike = get_le(&in, 1) != 0;
	sd->hour_spike_value = get_f(&in);
	sd->hour_median = get_f(&in);
	if (in.bad || in.off != in.n || sd->hours_n > 24) {
		why = in.bad || sd->hours_n > 24 ? "bad series state" : "trailing bytes";
		goto bad;
	}
	if ((why = check(st)) != NULL)
		goto bad;
	free(bin);
	return 0;
oom:
	free(bin);
	tl_state_fini(st);
	return -ENOMEM;
bad:
	(void)snprintf(err, errlen, "replay_state: %s (at byte %zu of %zu)", why, in.off, len);
	free(bin);
	tl_state_fini(st);
	return TL_EVALUE;
}

void tl_state_fini(struct tl_replay_state *st)
{
	tl_series_seed_free(st->seed);
	free(st->prices);
	free(st->names);
	st->seed = NULL;
	st->prices = NULL;
	st->names = NULL;
	st->n_prices = 0;
}
