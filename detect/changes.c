/*
 * detect/changes.c - change correlation and the last known stable version (see
 * tripline/changes.h). Pure; one instance belongs to the reader thread.
 *
 * Per series:
 *   open[]  the minutes not yet decided, a ring indexed by minute; each tallies, per dimension
 *           (model version, prompt version), up to TALLY values: records and first record.
 *           It holds the minutes (max_minute - n_open, max_minute].
 *   tl      the decided timeline: per dimension the current value and a candidate, and the
 *           segments, oldest first. A segment starts where a value changed (or was first
 *           seen) and holds both dimensions' values from then on; `confirm_at` is the end of
 *           the minute that decided it, so a reader at time T keeps the segments with
 *           confirm_at <= T and replays the open minutes that end by T on a copy: the
 *           timeline as it stood at T, whenever it is read.
 *   chg[]   control-plane changes (Success only), by time.
 *   fire[]  incidents of the rules that can roll back, in the order they fired.
 * Arrays grow by doubling up to max_per_series, then drop their oldest entry. Series live in
 * an open-addressing table (linear probing, backward-shift deletion) keyed by series key.
 * The checkpoint format is described in the checkpoint section below.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/changes.h>
#include <tripline/decode.h>
#include <tripline/hash.h>
#include <tripline/time.h>

#define TALLY       3 /* values of a dimension tallied per minute; more are "other" */
#define N_DIM       2 /* 0: model_version, 1: prompt_version */
#define NONE        INT64_MIN
#define PRUNE_EVERY (10 * TL_NS_PER_MIN)

struct tally {
	uint32_t sym[TALLY]; /* 0 = free */
	uint32_t n[TALLY];
	int64_t first[TALLY];
	uint32_t other;
};

struct minute {
	int64_t m; /* minute number (time / 1 min); NONE = free */
	struct tally d[N_DIM];
};

struct dim {
	uint32_t cur;  /* the current value; 0 until one is seen */
	uint32_t cand; /* the value that leads minutes since cand_start, not yet confirmed */
	uint32_t cand_n;
	int64_t cand_start;
};

struct seg {
	int64_t start;      /* first record of the new value */
	int64_t confirm_at; /* end of the minute that confirmed it */
	int64_t last_seen;  /* end of the last minute its values led */
	uint32_t v[N_DIM];
	uint32_t from[N_DIM]; /* the values before start; from[d] == v[d]: unchanged */
};

struct timeline {
	struct dim dim[N_DIM];
	struct seg *seg;
	uint32_t n, cap;
	bool scratch; /* an annotation's copy: cap is large enough, nothing is counted */
};

struct chg {
	int64_t time;
	uint32_t model, model_version, detail, operation;
	uint8_t op; /* enum tl_change_op */
};

struct fire {
	int64_t onset;       /* start of its first window */
	int64_t fired_at;    /* the trigger event's time */
	int64_t resolved_at; /* when it stopped holding */
	int64_t reported_at; /* the resolved event's time; NONE while firing */
	uint64_t incident;
};

struct series {
	uint64_t key;
	uint32_t resource;
	int64_t last_active; /* latest event or trigger time */
	int64_t max_minute;  /* newest minute of open[]; NONE = none yet */
	int64_t decided;     /* minutes up to this one are decided (set by a load); NONE */
	struct minute *open; /* n_open slots; NULL until a versioned request */
	struct timeline tl;
	struct chg *chg;
	uint32_t n_chg, cap_chg;
	struct fire *fire;
	uint32_t n_fire, cap_fire;
};

struct tl_changes {
	struct tl_changes_opts o;
	const struct tl_symtab *syms;
	uint64_t fold_account;
	uint32_t n_open; /* a power of two */
	uint32_t settle; /* minutes */
	struct series **tab;
	size_t tab_mask; /* capacity - 1 */
	size_t n_series;
	int64_t now; /* latest event time seen */
	int64_t next_prune;
	struct tl_changes_counts counts;
	/* annotation scratch, sized at new */
	struct seg *view;
	uint32_t cap_view;
	struct fire *ivals;
	struct tl_change *items;
	uint32_t cap_items;
};

/* ---- small helpers ---------------------------------------------------------------------- */

static const char *sym_str(const struct tl_changes *c, uint32_t sym)
{
	return tl_symtab_str(c->syms, sym, NULL);
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/*
 * Room for one more entry at the end of @p (@*n entries of @size bytes, capacity @*cap):
 * grow by doubling up to max_per_series, then drop the oldest (first) entry.
 * Return: the array, moved or not, or NULL when out of memory (@p is unchanged).
 */
static void *room(struct tl_changes *c, void *p, uint32_t *n, uint32_t *cap, size_t size)
{
	if (*n < *cap)
		return p;
	if (*cap < c->o.max_per_series) {
		uint32_t nc = *cap ? *cap * 2 : 4;

		if (nc > c->o.max_per_series)
			nc = c->o.max_per_series;
		void *q = realloc(p, (size_t)nc * size);

		if (!q) {
			c->counts.oom++;
			return NULL;
		}
		*cap = nc;
		return q;
	}
	memmove(p, (char *)p + size, (size_t)(*n - 1) * size);
	(*n)--;
	c->counts.dropped++;
	return p;
}

/* ---- the series table --------------------------------------------------------------------- */

static size_t slot_of(const struct tl_changes *c, uint64_t key)
{
	return (size_t)tl_hash_mix(key) & c->tab_mask;
}

static struct series *find(const struct tl_changes *c, uint64_t key)
{
	for (size_t i = slot_of(c, key);; i = (i + 1) & c->tab_mask) {
		if (!c->tab[i])
			return NULL;
		if (c->tab[i]->key == key)
			return c->tab[i];
	}
}

static void series_free(struct series *s)
{
	free(s->open);
	free(s->tl.seg);
	free(s->chg);
	free(s->fire);
	free(s);
}

static int grow_table(struct tl_changes *c)
{
	const size_t cap = (c->tab_mask + 1) * 2;
	struct series **old = c->tab, **tab = calloc(cap, sizeof(*tab));
	const size_t old_cap = c->tab_mask + 1;

	if (!tab)
		return -1;
	c->tab = tab;
	c->tab_mask = cap - 1;
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i])
			continue;
		size_t j = slot_of(c, old[i]->key);

		while (tab[j])
			j = (j + 1) & c->tab_mask;
		tab[j] = old[i];
	}
	free(old);
	return 0;
}

/* The series of @key, added if new (@resource names it). NULL at max_series or OOM. */
static struct series *get(struct tl_changes *c, uint64_t key, uint32_t resource)
{
	struct series *s = find(c, key);

	if (s)
		return s;
	if (c->n_series >= c->o.max_series) {
		c->counts.series_dropped++;
		return NULL;
	}
	if ((c->n_series + 1) * 2 > c->tab_mask + 1 && grow_table(c) < 0) {
		c->counts.oom++;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		c->counts.oom++;
		return NULL;
	}
	s->key = key;
	s->resource = resource;
	s->last_active = NONE;
	s->max_minute = NONE;
	s->decided = NONE;
	size_t i = slot_of(c, key);

	while (c->tab[i])
		i = (i + 1) & c->tab_mask;
	c->tab[i] = s;
	c->n_series++;
	return s;
}

/* Remove the series at table slot @i (backward-shift deletion). */
static void remove_at(struct tl_changes *c, size_t i)
{
	series_free(c->tab[i]);
	c->tab[i] = NULL;
	c->n_series--;
	for (size_t j = (i + 1) & c->tab_mask; c->tab[j]; j = (j + 1) & c->tab_mask) {
		const size_t home = slot_of(c, c->tab[j]->key);

		/* move j back to i unless its home lies cyclically in (i, j] */
		if (((j - home) & c->tab_mask) >= ((j - i) & c->tab_mask)) {
			c->tab[i] = c->tab[j];
			c->tab[j] = NULL;
			i = j;
		}
	}
}

/* ---- the version timeline ----------------------------------------------------------------- */

static void tally_add(struct tally *t, uint32_t sym, int64_t time_ns)
{
	if (!sym)
		return;
	for (int i = 0; i < TALLY; i++) {
		if (t->sym[i] == sym) {
			t->n[i]++;
			if (time_ns < t->first[i])
				t->first[i] = time_ns;
			return;
		}
		if (!t->sym[i]) {
			t->sym[i] = sym;
			t->n[i] = 1;
			t->first[i] = time_ns;
			return;
		}
	}
	t->other++;
}

/*
 * The value most records of a minute carried, its first record in *@ret_first; 0 when the
 * minute has none or more records went to untallied values. Ties go to @cur, then to the
 * value seen first, then by text, so the answer does not depend on arrival order.
 */
static uint32_t lead_value(const struct tl_changes *c, const struct tally *t, uint32_t cur,
			   int64_t *ret_first)
{
	int best = -1;

	for (int i = 0; i < TALLY && t->sym[i]; i++) {
		if (best < 0 || t->n[i] > t->n[best]) {
			best = i;
			continue;
		}
		if (t->n[i] < t->n[best] || t->sym[best] == cur)
			continue;
		if (t->sym[i] == cur || t->first[i] < t->first[best] ||
		    (t->first[i] == t->first[best] &&
		     strcmp(sym_str(c, t->sym[i]), sym_str(c, t->sym[best])) < 0))
			best = i;
	}
	if (best < 0 || t->other >= t->n[best])
		return 0;
	*ret_first = t->first[best];
	return t->sym[best];
}

/* Append a segment: dimension @d changes to its candidate at @start, confirmed at @end. */
static void confirm(struct tl_changes *c, struct timeline *tl, int d, int64_t end)
{
	struct dim *x = &tl->dim[d];
	int64_t start = x->cand_start;

	if (tl->n)
		start = max64(start, tl->seg[tl->n - 1].start);
	if (tl->scratch) {
		if (TL_UNLIKELY(tl->n >= tl->cap))
			return; /* cannot happen: sized for every open minute */
	} else {
		struct seg *p = room(c, tl->seg, &tl->n, &tl->cap, sizeof(*p));

		if (!p)
			return;
		tl->seg = p;
		if (x->cur)
			c->counts.version_changes++;
	}
	struct seg *g = &tl->seg[tl->n++];

	*g = (struct seg){ .start = start, .confirm_at = end, .last_seen = end };
	for (int i = 0; i < N_DIM; i++)
		g->v[i] = g->from[i] = tl->dim[i].cur;
	g->v[d] = x->cand;
	x->cur = x->cand;
	x->cand = 0;
	x->cand_n = 0;
}

/* Decide minute @m: per dimension, the value that led it moves the state machine. */
static void decide(struct tl_changes *c, struct timeline *tl, const struct minute *m)
{
	const int64_t end = (m->m + 1) * TL_NS_PER_MIN;
	int due[N_DIM], n_due = 0;
	bool led = false;

	for (int d = 0; d < N_DIM; d++) {
		struct dim *x = &tl->dim[d];
		int64_t first = 0;
		const uint32_t v = lead_value(c, &m->d[d], x->cur, &first);

		if (!v)
			continue;
		if (v == x->cur) {
			x->cand = 0;
			x->cand_n = 0;
			led = true;
			continue;
		}
		if (v != x->cand) {
			x->cand = v;
			x->cand_n = 0;
			x->cand_start = first;
		}
		if (++x->cand_n >= c->settle || !x->cur)
			due[n_due++] = d;
	}
	if (n_due == 2 && tl->dim[due[1]].cand_start < tl->dim[due[0]].cand_start) {
		const int t = due[0];

		due[0] = due[1];
		due[1] = t;
	}
	for (int i = 0; i < n_due; i++)
		confirm(c, tl, due[i], end);
	if (led && tl->n)
		tl->seg[tl->n - 1].last_seen = end;
}

/* Decide the open minutes of @s up to minute @limit, oldest first. */
static void close_minutes(struct tl_changes *c, struct series *s, int64_t limit)
{
	uint32_t idx[64], n = 0;

	for (uint32_t i = 0; i < c->n_open; i++) {
		if (s->open[i].m == NONE || s->open[i].m > limit)
			continue;
		uint32_t j = n++;

		while (j > 0 && s->open[idx[j - 1]].m > s->open[i].m) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
	for (uint32_t i = 0; i < n; i++) {
		decide(c, &s->tl, &s->open[idx[i]]);
		s->open[idx[i]].m = NONE;
	}
}

static void add_version(struct tl_changes *c, struct series *s, const struct tl_event *ev)
{
	const int64_t m = tl_floor_div(ev->time_ns, TL_NS_PER_MIN);

	if (!s->open) {
		s->open = malloc(c->n_open * sizeof(*s->open));
		if (!s->open) {
			c->counts.oom++;
			return;
		}
		for (uint32_t i = 0; i < c->n_open; i++)
			s->open[i].m = NONE;
	}
	if (s->max_minute == NONE || m > s->max_minute) {
		if (s->max_minute != NONE)
			close_minutes(c, s, m - c->n_open);
		s->max_minute = m;
	} else if (m <= s->max_minute - c->n_open || m <= s->decided) {
		c->counts.late++;
		return;
	}
	struct minute *slot = &s->open[(uint64_t)m & (c->n_open - 1)];

	if (slot->m != m) {
		memset(slot, 0, sizeof(*slot));
		slot->m = m;
	}
	tally_add(&slot->d[0], ev->model_version, ev->time_ns);
	tally_add(&slot->d[1], ev->prompt_version, ev->time_ns);
}

/* ---- control-plane changes and incidents -------------------------------------------------- */

static void add_change(struct tl_changes *c, struct series *s, const struct tl_event *ev)
{
	const uint8_t op = ev->u.change.op;

	if (ev->u.change.phase != TL_PHASE_SUCCESS || op < 1 || op >= TL_CHANGE_OP_COUNT_)
		return;
	if (s->n_chg == c->o.max_per_series && ev->time_ns < s->chg[0].time) {
		c->counts.dropped++; /* older than everything kept */
		return;
	}
	/* a record delivered twice (Event Hubs delivers at least once; the engine drops the
	 * repeat after this module has seen it) is one change */
	for (uint32_t k = s->n_chg; k-- > 0 && s->chg[k].time >= ev->time_ns;) {
		const struct chg *q = &s->chg[k];

		if (q->time == ev->time_ns && q->op == op && q->model == ev->model &&
		    q->model_version == ev->model_version && q->detail == ev->u.change.detail &&
		    q->operation == ev->operation) {
			c->counts.repeated++;
			return;
		}
	}
	struct chg *p = room(c, s->chg, &s->n_chg, &s->cap_chg, sizeof(*p));

	if (!p)
		return;
	s->chg = p;
	uint32_t i = s->n_chg++;

	while (i > 0 && s->chg[i - 1].time > ev->time_ns) {
		s->chg[i] = s->chg[i - 1];
		i--;
	}
	s->chg[i] = (struct chg){ .time = ev->time_ns,
				  .model = ev->model,
				  .model_version = ev->model_version,
				  .detail = ev->u.change.detail,
				  .operation = ev->operation,
				  .op = op };
	c->counts.changes++;
}

static struct fire *find_fire(struct series *s, uint64_t incident)
{
	for (uint32_t i = s->n_fire; i-- > 0;)
		if (s->fire[i].incident == incident)
			return &s->fire[i];
	return NULL;
}

void tl_changes_trigger(struct tl_changes *c, const struct tl_trigger *t)
{
	if (t->rule == TL_RULE_COST || t->rule == TL_RULE_THROTTLING)
		return;
	struct series *s = get(c, t->series, t->resource);

	if (!s)
		return;
	s->last_active = max64(s->last_active, t->at);
	struct fire *f = find_fire(s, t->incident);

	if (!f) {
		struct fire *p = room(c, s->fire, &s->n_fire, &s->cap_fire, sizeof(*p));

		if (!p)
			return;
		s->fire = p;
		f = &s->fire[s->n_fire++];
		*f = (struct fire){ .onset = t->fired_at,
				    .fired_at = t->fired_at,
				    .resolved_at = NONE,
				    .reported_at = NONE,
				    .incident = t->incident };
		if (t->type == TL_TRIGGER_FIRE && t->window_start > 0)
			f->onset = min64(t->window_start, t->fired_at);
	}
	if (t->type == TL_TRIGGER_RESOLVED) {
		f->resolved_at = max64(t->resolved_at, f->onset);
		f->reported_at = t->at;
	}
}

/* ---- pruning ------------------------------------------------------------------------------ */

static void prune_series(struct series *s, int64_t cutoff)
{
	uint32_t k = 0;

	while (k + 1 < s->tl.n && s->tl.seg[k + 1].start < cutoff)
		k++;
	if (k) {
		memmove(s->tl.seg, s->tl.seg + k, (s->tl.n - k) * sizeof(*s->tl.seg));
		s->tl.n -= k;
	}
	for (k = 0; k < s->n_chg && s->chg[k].time < cutoff; k++)
		;
	if (k) {
		memmove(s->chg, s->chg + k, (s->n_chg - k) * sizeof(*s->chg));
		s->n_chg -= k;
	}
	for (k = 0;
	     k < s->n_fire && s->fire[k].reported_at != NONE && s->fire[k].resolved_at < cutoff;
	     k++)
		;
	if (k) {
		memmove(s->fire, s->fire + k, (s->n_fire - k) * sizeof(*s->fire));
		s->n_fire -= k;
	}
}

/* Forget what lies more than horizon + lead before the newest event: series idle that long
 * go, the others lose their older entries. */
static void prune(struct tl_changes *c)
{
	const int64_t cutoff = c->now - c->o.horizon_ns - c->o.lead_ns;

	for (size_t i = 0; i <= c->tab_mask;) {
		struct series *s = c->tab[i];

		if (s && s->last_active < cutoff) {
			remove_at(c, i);
			c->counts.series_freed++;
			continue; /* another series may have moved into slot i */
		}
		if (s)
			prune_series(s, cutoff);
		i++;
	}
}

void tl_changes_event(struct tl_changes *c, const struct tl_event *ev)
{
	struct series *s;

	c->counts.events++;
	if (ev->time_ns > c->now) {
		c->now = ev->time_ns;
		if (c->next_prune == NONE)
			c->next_prune = c->now + PRUNE_EVERY;
		if (c->now >= c->next_prune) {
			prune(c);
			c->next_prune = c->now + PRUNE_EVERY;
		}
	}
	switch (ev->kind) {
	case TL_EV_REQUEST:
		if (!ev->model_version && !ev->prompt_version) {
			if ((s = find(c, ev->series)))
				s->last_active = max64(s->last_active, ev->time_ns);
			return;
		}
		if (!(s = get(c, ev->series, ev->resource)))
			return;
		s->last_active = max64(s->last_active, ev->time_ns);
		add_version(c, s, ev);
		return;
	case TL_EV_CHANGE:
		if (ev->u.change.phase != TL_PHASE_SUCCESS ||
		    !(s = get(c, ev->series, ev->resource)))
			return;
		s->last_active = max64(s->last_active, ev->time_ns);
		add_change(c, s, ev);
		return;
	default:
		return;
	}
}

/* ---- annotation --------------------------------------------------------------------------- */

/*
 * The version timeline of @s as it stood at @at, into c->view: the segments confirmed by then,
 * plus the open minutes that ended by then replayed on a copy. A segment that only gives a
 * dimension its first value is folded into the one before. Last-seen times are clipped to @at.
 * Return: the number of segments.
 */
static uint32_t view_at(struct tl_changes *c, const struct series *s, int64_t at)
{
	struct timeline tl = { .seg = c->view, .cap = c->cap_view, .scratch = true };
	uint32_t n = 0;

	memcpy(tl.dim, s->tl.dim, sizeof(tl.dim));
	for (uint32_t i = 0; i < s->tl.n && s->tl.seg[i].confirm_at <= at; i++)
		tl.seg[tl.n++] = s->tl.seg[i];
	if (s->open) {
		uint32_t idx[64], k = 0;

		for (uint32_t i = 0; i < c->n_open; i++) {
			const int64_t m = s->open[i].m;

			if (m == NONE || (m + 1) * TL_NS_PER_MIN > at)
				continue;
			uint32_t j = k++;

			while (j > 0 && s->open[idx[j - 1]].m > m) {
				idx[j] = idx[j - 1];
				j--;
			}
			idx[j] = i;
		}
		for (uint32_t i = 0; i < k; i++)
			decide(c, &tl, &s->open[idx[i]]);
	}
	for (uint32_t i = 0; i < tl.n; i++) {
		struct seg g = tl.seg[i];
		bool first_only = true;

		for (int d = 0; d < N_DIM; d++)
			if (g.from[d] != g.v[d] && g.from[d])
				first_only = false;
		g.last_seen = min64(g.last_seen, at);
		if (n && first_only) {
			struct seg *p = &c->view[n - 1];

			memcpy(p->v, g.v, sizeof(p->v));
			p->last_seen = max64(p->last_seen, g.last_seen);
			continue;
		}
		c->view[n++] = g;
	}
	return n;
}

static bool same_pair(const struct seg *a, const struct seg *b)
{
	return a->v[0] == b->v[0] && a->v[1] == b->v[1];
}

/*
 * The longest stretch of [@from, @to) that no interval of c->ivals (@n of them, by onset)
 * covers.
 */
static int64_t quiet_stretch(const struct tl_changes *c, uint32_t n, int64_t from, int64_t to)
{
	int64_t cursor = from, best = 0;

	for (uint32_t i = 0; i < n && cursor < to; i++) {
		const struct fire *f = &c->ivals[i];

		if (f->resolved_at <= cursor)
			continue;
		if (f->onset > cursor)
			best = max64(best, min64(f->onset, to) - cursor);
		cursor = max64(cursor, f->resolved_at);
	}
	if (cursor < to)
		best = max64(best, to - cursor);
	return best;
}

/* The incidents of @s as known at @at, with @own ([onset, at]), into c->ivals by onset. */
static uint32_t incidents_at(struct tl_changes *c, const struct series *s, int64_t at,
			     const struct fire *own)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i <= (s ? s->n_fire : 0); i++) {
		struct fire f;

		if (s && i < s->n_fire) {
			f = s->fire[i];
			if (f.fired_at >= at || f.incident == own->incident)
				continue;
			if (f.reported_at == NONE || f.reported_at >= at)
				f.resolved_at = at;
		} else {
			f = *own;
		}
		uint32_t j = n++;

		while (j > 0 && c->ivals[j - 1].onset > f.onset) {
			c->ivals[j] = c->ivals[j - 1];
			j--;
		}
		c->ivals[j] = f;
	}
	return n;
}

static void put_item(struct tl_changes *c, uint32_t *n, const struct tl_change *it)
{
	uint32_t j = (*n)++;

	if (TL_UNLIKELY(j >= c->cap_items)) {
		(*n)--;
		return;
	}
	while (j > 0 &&
	       (c->items[j - 1].time_ns > it->time_ns ||
		(c->items[j - 1].time_ns == it->time_ns && c->items[j - 1].kind > it->kind))) {
		c->items[j] = c->items[j - 1];
		j--;
	}
	c->items[j] = *it;
}

static void put_changes(struct tl_changes *c, uint32_t *n, const struct series *s, int64_t lo,
			int64_t hi, bool account)
{
	static const uint8_t kinds[TL_CHANGE_OP_COUNT_] = {
		[TL_CHANGE_DEPLOYMENT_WRITE] = TL_CHK_DEPLOYMENT_WRITE,
		[TL_CHANGE_DEPLOYMENT_DELETE] = TL_CHK_DEPLOYMENT_DELETE,
		[TL_CHANGE_RAI_POLICY_WRITE] = TL_CHK_RAI_POLICY_WRITE,
		[TL_CHANGE_ACCOUNT_WRITE] = TL_CHK_ACCOUNT_WRITE,
	};

	for (uint32_t i = 0; s && i < s->n_chg; i++) {
		const struct chg *g = &s->chg[i];

		if (g->time < lo || g->time > hi)
			continue;
		put_item(c, n,
			 &(struct tl_change){ .time_ns = g->time,
					      .kind = kinds[g->op],
					      .account = account,
					      .model = g->model,
					      .model_version = g->model_version,
					      .detail = g->detail,
					      .operation = g->operation });
	}
}

/* snprintf() into @buf, cut short when it does not fit. */
static void textf(char *buf, size_t n, const char *fmt, ...) TL_PRINTF(3, 4);
static void textf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, n, fmt, ap);
	va_end(ap);
}

/* "6h", "2h30m", "45m" */
static void fmt_duration(char *buf, size_t n, int64_t ns)
{
	const long long min = (long long)(ns / TL_NS_PER_MIN);

	if (min >= 60 && min % 60)
		(void)snprintf(buf, n, "%lldh%lldm", min / 60, min % 60);
	else if (min >= 60)
		(void)snprintf(buf, n, "%lldh", min / 60);
	else
		(void)snprintf(buf, n, "%lldm", min);
}

/* "model_version A -> B" and/or "prompt_version p -> q" for segment @g. */
static void fmt_change(const struct tl_changes *c, char *buf, size_t n, const struct seg *g)
{
	static const char *const names[N_DIM] = { "model_version", "prompt_version" };
	size_t len = 0;

	buf[0] = '\0';
	for (int d = 0; d < N_DIM; d++) {
		if (g->from[d] == g->v[d] || !g->from[d] || len >= n)
			continue;
		int w = snprintf(buf + len, n - len, "%s%s %s -> %s", len ? ", " : "", names[d],
				 sym_str(c, g->from[d]), sym_str(c, g->v[d]));

		if (w > 0)
			len += (size_t)w;
	}
}

static bool rolls_back(uint8_t rule)
{
	return rule == TL_RULE_LATENCY || rule == TL_RULE_ERRORS || rule == TL_RULE_GUARDRAIL ||
	       rule == TL_RULE_REFUSAL;
}

static const char *regression_name(uint8_t rule)
{
	switch (rule) {
	case TL_RULE_LATENCY:
		return "latency regression";
	case TL_RULE_ERRORS:
		return "error spike";
	case TL_RULE_GUARDRAIL:
		return "guardrail failure spike";
	default:
		return "refusal spike";
	}
}

/* Decide rollback for @t (see tl_changes_annotate()); @n_view segments are in c->view. */
static void decide_action(struct tl_changes *c, const struct tl_trigger *t, const struct series *s,
			  uint32_t n_view, const struct fire *own, struct tl_annotation *out)
{
	const int64_t at = t->fired_at, lo = at - c->o.change_window_ns;
	const struct seg *change = NULL;
	int64_t change_at = NONE;

	if (!rolls_back(t->rule) || (t->fallback && t->fallback[0] && t->severity <= 1) ||
	    n_view == 0)
		return;
	for (uint32_t i = n_view; i-- > 1;) {
		if (c->view[i].start >= lo && c->view[i].start <= at) {
			change = &c->view[i];
			change_at = change->start;
			break;
		}
	}
	for (uint32_t i = 0; !change && s && i < s->n_chg; i++)
		if (s->chg[i].op == TL_CHANGE_DEPLOYMENT_WRITE && s->chg[i].time >= lo &&
		    s->chg[i].time <= at)
			change_at = s->chg[i].time;
	if (change_at == NONE)
		return;

	const struct seg *cur = &c->view[n_view - 1];
	const int64_t horizon = at - c->o.horizon_ns;
	const uint32_t n_ivals = incidents_at(c, s, at, own);
	const struct seg *stable = NULL;
	int64_t quiet = 0;

	for (uint32_t i = n_view - 1; i-- > 0;) {
		const struct seg *g = &c->view[i];
		const int64_t from = max64(g->start, horizon);
		const int64_t to = min64(min64(g->last_seen, c->view[i + 1].start), at);

		if (same_pair(g, cur) || to - from < c->o.stable_after_ns)
			continue;
		quiet = quiet_stretch(c, n_ivals, from, to);
		if (quiet >= c->o.stable_after_ns) {
			stable = g;
			break;
		}
	}
	if (!stable)
		return;

	char what[160], label[160], ran[32];
	const int64_t began = max64(own->onset, change_at);

	if (change)
		fmt_change(c, what, sizeof(what), change);
	else
		(void)snprintf(what, sizeof(what), "a deployment write");
	if (stable->v[0] != cur->v[0] && stable->v[1] != cur->v[1] && stable->v[1])
		(void)snprintf(label, sizeof(label), "%s/%s", sym_str(c, stable->v[0]),
			       sym_str(c, stable->v[1]));
	else if (stable->v[0] != cur->v[0] || !stable->v[1])
		(void)snprintf(label, sizeof(label), "%s", sym_str(c, stable->v[0]));
	else
		(void)snprintf(label, sizeof(label), "%s", sym_str(c, stable->v[1]));
	fmt_duration(ran, sizeof(ran), quiet);
	out->action = TL_ACTION_ROLLBACK;
	out->target_model_version = stable->v[0];
	out->target_prompt_version = stable->v[1];
	out->change_ns = change_at;
	out->stable_ns = quiet;
	/* a long version name may cut the line short: it stays one line */
	textf(out->reason, sizeof(out->reason),
	      "%s began %lld min after %s; %s ran %s without incident", regression_name(t->rule),
	      (long long)((began - change_at) / TL_NS_PER_MIN), what, label, ran);
}

void tl_changes_annotate(struct tl_changes *c, const struct tl_trigger *t,
			 struct tl_annotation *out)
{
	const int64_t at = t->fired_at, lo = at - c->o.recent_ns;
	struct series *s = find(c, t->series);
	const uint64_t acct_key =
	    tl_series_key(tl_symtab_fold_hash(c->syms, t->resource), c->fold_account);
	const struct series *acct = acct_key != t->series ? find(c, acct_key) : NULL;
	struct fire own = {
		.onset = at, .fired_at = at, .resolved_at = at, .incident = t->incident
	};
	const struct fire *f = s ? find_fire(s, t->incident) : NULL;
	uint32_t n_view = 0, n = 0;

	memset(out, 0, sizeof(*out));
	out->action = t->action;
	out->fallback = t->fallback;
	(void)snprintf(out->reason, sizeof(out->reason), "%s", t->reason);
	if (f)
		own.onset = min64(f->onset, at);
	else if (t->type == TL_TRIGGER_FIRE && t->window_start > 0)
		own.onset = min64(t->window_start, at);

	if (s)
		n_view = view_at(c, s, at);
	for (uint32_t i = 1; i < n_view; i++) {
		const struct seg *g = &c->view[i];

		if (g->start < lo || g->start > at)
			continue;
		for (int d = 0; d < N_DIM; d++)
			if (g->from[d] != g->v[d] && g->from[d])
				put_item(c, &n,
					 &(struct tl_change){ .time_ns = g->start,
							      .kind = d ? TL_CHK_PROMPT_VERSION
									: TL_CHK_MODEL_VERSION,
							      .from = g->from[d],
							      .to = g->v[d] });
	}
	put_changes(c, &n, s, lo, at, false);
	put_changes(c, &n, acct, lo, at, true);
	if (n > TL_CHANGES_MAX_RECENT) {
		out->n_recent_omitted = n - TL_CHANGES_MAX_RECENT;
		memcpy(out->recent, c->items + out->n_recent_omitted,
		       TL_CHANGES_MAX_RECENT * sizeof(*out->recent));
		out->n_recent = TL_CHANGES_MAX_RECENT;
	} else {
		memcpy(out->recent, c->items, n * sizeof(*out->recent));
		out->n_recent = n;
	}
	decide_action(c, t, s, n_view, &own, out);
}

/* ---- JSON ----------------------------------------------------------------------------------- */

static void put_str(struct tl_buf *b, const char *key, const char *s, size_t n)
{
	tl_buf_printf(b, ",\"%s\":", key);
	tl_buf_json_str(b, s, n);
}

static void put_sym(struct tl_buf *b, const char *key, const struct tl_symtab *syms, uint32_t sym)
{
	size_t n;
	const char *s = tl_symtab_str(syms, sym, &n);

	put_str(b, key, s, n);
}

void tl_annotation_json(const struct tl_annotation *a, const struct tl_symtab *syms,
			struct tl_buf *b)
{
	static const char *const kinds[] = {
		"?",
		"model_version",
		"prompt_version",
		"deployment_write",
		"deployment_delete",
		"rai_policy_write",
		"account_write",
	};
	static const char *const ops[] = {
		"?",
		"Microsoft.CognitiveServices/accounts/deployments/write",
		"Microsoft.CognitiveServices/accounts/deployments/delete",
		"Microsoft.CognitiveServices/accounts/raiPolicies/write",
		"Microsoft.CognitiveServices/accounts/write",
	};
	static const char *const actions[] = { "?", "investigate", "failover", "throttle",
					       "rollback" };
	char tbuf[TL_TIME_TEXT_LEN + 1];

	tl_buf_puts(b, ",\"recent_changes\":[");
	for (uint32_t i = 0; i < a->n_recent; i++) {
		const struct tl_change *g = &a->recent[i];
		const uint8_t k = g->kind <= TL_CHK_ACCOUNT_WRITE ? g->kind : 0;

		tl_buf_printf(b, "%s{\"time\":\"%s\",\"kind\":\"%s\"", i ? "," : "",
			      tl_time_format(g->time_ns, tbuf), kinds[k]);
		if (k == TL_CHK_MODEL_VERSION || k == TL_CHK_PROMPT_VERSION) {
			put_sym(b, "from", syms, g->from);
			put_sym(b, "to", syms, g->to);
			tl_buf_puts(b, "}");
			continue;
		}
		if (g->operation)
			put_sym(b, "operation", syms, g->operation);
		else
			put_str(b, "operation", ops[k ? k - 2 : 0], strlen(ops[k ? k - 2 : 0]));
		tl_buf_puts(b, ",\"status\":\"Succeeded\"");
		if (g->account)
			tl_buf_puts(b, ",\"scope\":\"account\"");
		if (g->model)
			put_sym(b, "model", syms, g->model);
		if (g->model_version)
			put_sym(b, "model_version", syms, g->model_version);
		if (g->detail)
			put_sym(b, "rai_policy", syms, g->detail);
		tl_buf_puts(b, "}");
	}
	tl_buf_puts(b, "]");
	if (a->n_recent_omitted)
		tl_buf_printf(b, ",\"recent_changes_omitted\":%u", (unsigned)a->n_recent_omitted);
	tl_buf_printf(b, ",\"action\":{\"kind\":\"%s\"", actions[a->action <= 4 ? a->action : 0]);
	if (a->action == TL_ACTION_ROLLBACK) {
		size_t n;
		const char *s;

		tl_buf_puts(b, ",\"target\":{");
		if (a->target_model_version) {
			s = tl_symtab_str(syms, a->target_model_version, &n);
			tl_buf_puts(b, "\"model_version\":");
			tl_buf_json_str(b, s, n);
		}
		if (a->target_prompt_version) {
			s = tl_symtab_str(syms, a->target_prompt_version, &n);
			tl_buf_puts(b, a->target_model_version ? ",\"prompt_version\":"
							       : "\"prompt_version\":");
			tl_buf_json_str(b, s, n);
		}
		tl_buf_puts(b, "}");
	} else if (a->action == TL_ACTION_FAILOVER && a->fallback && a->fallback[0]) {
		tl_buf_puts(b, ",\"target\":{\"deployment\":");
		tl_buf_json_str(b, a->fallback, strlen(a->fallback));
		tl_buf_puts(b, "}");
	}
	tl_buf_puts(b, ",\"reason\":");
	tl_buf_json_str(b, a->reason, strlen(a->reason));
	tl_buf_puts(b, "}");
}

/* ---- checkpoint ----------------------------------------------------------------------------- */

/*
 * The blob. Integers are little-endian; times and minutes are signed, NONE is INT64_MIN.
 *   header, CKPT_HEAD bytes: "TLCHANGE", u32 format version, u32 0, u64 payload length,
 *       u64 tl_hash64(payload, length, TL_HASH_SEED)
 *   payload:
 *       u32 n_names, then per name: u32 length (> 0), the bytes. Records refer to a name by
 *           its position, from 1; 0 is symbol 0 (none).
 *       i64 now, i64 next_prune, the nine u64 counters in the order of tl_changes_counts
 *       u64 n_series, then per series, by ascending key:
 *           u64 key, name resource, i64 last_active, i64 max_minute, i64 decided
 *           per dimension: name cur, name cand, u32 cand_n, i64 cand_start
 *           u32 n, then per segment: i64 start, confirm_at, last_seen, name v[2], from[2]
 *           u32 n, then per change: i64 time, u8 op, name model, model_version, detail,
 *               operation
 *           u32 n, then per incident: i64 onset, fired_at, resolved_at, reported_at,
 *               u64 incident
 *           u8 0, or u8 1 and u32 n, then per open minute, by ascending minute: i64 m, per
 *               dimension TALLY x (name sym, u32 n, i64 first) and u32 other
 * `decided` (the newest minute decided) keeps a load with a longer lateness from reopening a
 * minute the saved tracker had decided. Loading reads the payload twice: once to check all
 * of it, then, with the names interned, to build the series; so a bad blob changes nothing.
 */
#define CKPT_MAGIC   "TLCHANGE"
#define CKPT_VERSION 1
#define CKPT_HEAD    32
/* the newest minute a series may have: its end is still a time */
#define MINUTE_MAX (INT64_MAX / TL_NS_PER_MIN - 1)
#define MAX_OPEN   64 /* open minutes a series can have (tl_changes_new() caps n_open) */
/* bytes of the smallest series record, and of each entry */
#define SERIES_SIZE (8 + 4 + 3 * 8 + N_DIM * (3 * 4 + 8) + 3 * 4 + 1)
#define SEG_SIZE    (3 * 8 + 2 * N_DIM * 4)
#define CHG_SIZE    (8 + 1 + 4 * 4)
#define FIRE_SIZE   (5 * 8)
#define MINUTE_SIZE (8 + N_DIM * (TALLY * (4 + 4 + 8) + 4))

static void put_le(struct tl_buf *b, uint64_t v, size_t n)
{
	uint8_t x[8];

	for (size_t i = 0; i < n; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	tl_buf_put(b, x, n);
}

static void put_i64(struct tl_buf *b, int64_t v)
{
	put_le(b, (uint64_t)v, 8);
}

static uint64_t le_at(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* The names a blob refers to: symbol -> position in the name table, by open addressing. */
struct names {
	const struct tl_symtab *syms;
	uint32_t *sym, *ref; /* sym 0: empty slot */
	size_t mask, n;
	struct tl_buf text; /* the name table's entries, in order of first reference */
	bool oom;
};

static bool names_grow(struct names *m)
{
	const size_t cap = m->sym ? (m->mask + 1) * 2 : 256;
	uint32_t *sym = calloc(cap, sizeof(*sym)), *ref = calloc(cap, sizeof(*ref));

	if (!sym || !ref) {
		free(sym);
		free(ref);
		return false;
	}
	for (size_t i = 0; m->sym && i <= m->mask; i++) {
		if (!m->sym[i])
			continue;
		size_t j = (size_t)tl_hash_mix(m->sym[i]) & (cap - 1);

		while (sym[j])
			j = (j + 1) & (cap - 1);
		sym[j] = m->sym[i];
		ref[j] = m->ref[i];
	}
	free(m->sym);
	free(m->ref);
	m->sym = sym;
	m->ref = ref;
	m->mask = cap - 1;
	return true;
}

/* The reference to @sym in the blob, adding its name to the table; 0 for none. */
static uint32_t name_ref(struct names *m, uint32_t sym)
{
	size_t i, len;

	if (!sym || m->oom)
		return 0;
	if ((m->n + 1) * 2 > m->mask + 1 && !names_grow(m)) {
		m->oom = true;
		return 0;
	}
	for (i = (size_t)tl_hash_mix(sym) & m->mask; m->sym[i]; i = (i + 1) & m->mask)
		if (m->sym[i] == sym)
			return m->ref[i];
	const char *s = tl_symtab_str(m->syms, sym, &len);

	if (!len || len > UINT32_MAX)
		return 0; /* not a symbol of the table: none */
	m->sym[i] = sym;
	m->ref[i] = (uint32_t)++m->n;
	put_le(&m->text, len, 4);
	tl_buf_put(&m->text, s, len);
	return m->ref[i];
}

static void save_series(const struct tl_changes *c, struct names *m, struct tl_buf *b,
			const struct series *s)
{
	int64_t decided = s->decided;
	uint32_t idx[MAX_OPEN], k = 0;

	if (s->max_minute != NONE)
		decided = max64(decided, s->max_minute - c->n_open);
	put_le(b, s->key, 8);
	put_le(b, name_ref(m, s->resource), 4);
	put_i64(b, s->last_active);
	put_i64(b, s->max_minute);
	put_i64(b, decided);
	for (int d = 0; d < N_DIM; d++) {
		const struct dim *x = &s->tl.dim[d];

		put_le(b, name_ref(m, x->cur), 4);
		put_le(b, name_ref(m, x->cand), 4);
		put_le(b, x->cand_n, 4);
		put_i64(b, x->cand_start);
	}
	put_le(b, s->tl.n, 4);
	for (uint32_t i = 0; i < s->tl.n; i++) {
		const struct seg *g = &s->tl.seg[i];

		put_i64(b, g->start);
		put_i64(b, g->confirm_at);
		put_i64(b, g->last_seen);
		for (int d = 0; d < N_DIM; d++)
			put_le(b, name_ref(m, g->v[d]), 4);
		for (int d = 0; d < N_DIM; d++)
			put_le(b, name_ref(m, g->from[d]), 4);
	}
	put_le(b, s->n_chg, 4);
	for (uint32_t i = 0; i < s->n_chg; i++) {
		const struct chg *g = &s->chg[i];

		put_i64(b, g->time);
		put_le(b, g->op, 1);
		put_le(b, name_ref(m, g->model), 4);
		put_le(b, name_ref(m, g->model_version), 4);
		put_le(b, name_ref(m, g->detail), 4);
		put_le(b, name_ref(m, g->operation), 4);
	}
	put_le(b, s->n_fire, 4);
	for (uint32_t i = 0; i < s->n_fire; i++) {
		const struct fire *f = &s->fire[i];

		put_i64(b, f->onset);
		put_i64(b, f->fired_at);
		put_i64(b, f->resolved_at);
		put_i64(b, f->reported_at);
		put_le(b, f->incident, 8);
	}
	put_le(b, s->open != NULL, 1);
	if (!s->open)
		return;
	for (uint32_t i = 0; i < c->n_open; i++) {
		if (s->open[i].m == NONE)
			continue;
		uint32_t j = k++;

		while (j > 0 && s->open[idx[j - 1]].m > s->open[i].m) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
	put_le(b, k, 4);
	for (uint32_t i = 0; i < k; i++) {
		const struct minute *mn = &s->open[idx[i]];

		put_i64(b, mn->m);
		for (int d = 0; d < N_DIM; d++) {
			for (int t = 0; t < TALLY; t++) {
				put_le(b, name_ref(m, mn->d[d].sym[t]), 4);
				put_le(b, mn->d[d].n[t], 4);
				put_i64(b, mn->d[d].first[t]);
			}
			put_le(b, mn->d[d].other, 4);
		}
	}
}

static int by_key(const void *a, const void *b)
{
	const uint64_t x = (*(const struct series *const *)a)->key;
	const uint64_t y = (*(const struct series *const *)b)->key;

	return (x > y) - (x < y);
}

int tl_changes_save(const struct tl_changes *c, struct tl_buf *out)
{
	const uint64_t *counts[] = {
		&c->counts.events,          &c->counts.changes,      &c->counts.repeated,
		&c->counts.version_changes, &c->counts.late,         &c->counts.dropped,
		&c->counts.series_dropped,  &c->counts.series_freed, &c->counts.oom,
	};
	struct names m = { .syms = c->syms };
	struct tl_buf body = { 0 };
	struct series **all = NULL;
	const size_t start = out->n;
	size_t k = 0;
	int r = -ENOMEM;

	if (c->n_series && !(all = malloc(c->n_series * sizeof(*all))))
		goto out;
	for (size_t i = 0; i <= c->tab_mask; i++)
		if (c->tab[i])
			all[k++] = c->tab[i];
	if (k)
		qsort(all, k, sizeof(*all), by_key);
	put_i64(&body, c->now);
	put_i64(&body, c->next_prune);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		put_le(&body, *counts[i], 8);
	put_le(&body, k, 8);
	for (size_t i = 0; i < k; i++)
		save_series(c, &m, &body, all[i]);
	if (!tl_buf_ok(&body) || !tl_buf_ok(&m.text) || m.oom)
		goto out;
	tl_buf_put(out, CKPT_MAGIC, 8);
	put_le(out, CKPT_VERSION, 4);
	put_le(out, 0, 4); /* reserved */
	put_le(out, 0, 8); /* the length and the checksum, written below */
	put_le(out, 0, 8);
	put_le(out, m.n, 4);
	if (m.text.n)
		tl_buf_put(out, m.text.p, m.text.n);
	tl_buf_put(out, body.p, body.n);
	if (!tl_buf_ok(out))
		goto out;
	uint8_t *head = (uint8_t *)out->p + start;
	const size_t len = out->n - start - CKPT_HEAD;
	const uint64_t sum = tl_hash64(head + CKPT_HEAD, len, TL_HASH_SEED);

	for (size_t i = 0; i < 8; i++) {
		head[16 + i] = (uint8_t)((uint64_t)len >> (8 * i));
		head[24 + i] = (uint8_t)(sum >> (8 * i));
	}
	r = 0;
out:
	if (r < 0 && out->n > start) {
		out->n = start;
		out->p[start] = '\0';
	}
	free(all);
	free(m.sym);
	free(m.ref);
	tl_buf_fini(&m.text);
	tl_buf_fini(&body);
	return r;
}

/* A blob being read. A record that runs past the payload or holds a bad value sets `why`;
 * reads after that give zeros. */
struct loader {
	const uint8_t *p;
	size_t n, off;
	const char *why;
	struct tl_changes *c;
	uint32_t n_names;
	const uint32_t *sym; /* name reference -> symbol once interned; NULL while checking */
	uint64_t n_series;
};

static void check(struct loader *ld, bool ok, const char *why)
{
	if (!ok && !ld->why)
		ld->why = why;
}

/* Whether @count entries of @size bytes may follow. */
static bool fits(const struct loader *ld, uint64_t count, size_t size)
{
	return count <= (ld->n - ld->off) / size;
}

static uint64_t get_le(struct loader *ld, size_t n)
{
	check(ld, ld->n - ld->off >= n, "a record runs past the end");
	if (ld->why)
		return 0;
	const uint64_t v = le_at(ld->p + ld->off, n);

	ld->off += n;
	return v;
}

static uint8_t get_u8(struct loader *ld)
{
	return (uint8_t)get_le(ld, 1);
}

static uint32_t get_u32(struct loader *ld)
{
	return (uint32_t)get_le(ld, 4);
}

static int64_t get_i64(struct loader *ld)
{
	const uint64_t u = get_le(ld, 8);
	int64_t v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

/* A name reference: the symbol once interned, else 0 or 1 (whether there is one). */
static uint32_t get_name(struct loader *ld)
{
	const uint32_t ref = get_u32(ld);

	check(ld, ref <= ld->n_names, "a name reference past the name table");
	if (ld->why || !ref)
		return 0;
	return ld->sym ? ld->sym[ref] : 1;
}

/* Times are those tl_time_parse() gives, 1970 .. 2262: no difference of two overflows. */
static bool time_ok(int64_t t)
{
	return t >= 0;
}

static bool time_or_none(int64_t t)
{
	return t == NONE || time_ok(t);
}

/* The capacity room() would have reached holding @n (> 0) entries. */
static uint32_t cap_for(uint32_t max, uint32_t n)
{
	uint32_t cap = 4;

	while (cap < n)
		cap = cap > UINT32_MAX / 2 ? n : cap * 2;
	return cap < max ? cap : max;
}

/*
 * @n entries of @wire bytes follow: once the names are interned, an array of entries of @size
 * bytes for @keep of them. Return: the array; NULL for none, while checking, or on -ENOMEM.
 */
static void *load_array(struct loader *ld, uint32_t n, size_t wire, size_t size, uint32_t keep,
			uint32_t *ret_cap, int *ret)
{
	void *p;

	check(ld, fits(ld, n, wire), "more entries than bytes");
	if (!ld->sym || ld->why || !keep)
		return NULL;
	*ret_cap = cap_for(ld->c->o.max_per_series, keep);
	if (!(p = calloc(*ret_cap, size)))
		*ret = -ENOMEM;
	return p;
}

/*
 * One series record into @s: checked, and built too once the names are interned (arrays
 * allocated; open minutes the lateness no longer keeps open are decided). The newest
 * max_per_series entries of each array are kept.
 * Return: 0 (a bad record sets ld->why), or -ENOMEM.
 */
static int load_series(struct loader *ld, struct series *s)
{
	struct tl_changes *c = ld->c;
	const bool build = ld->sym != NULL;
	const uint32_t max = c->o.max_per_series;
	uint32_t n, skip;
	int r = 0;

	s->key = get_le(ld, 8);
	s->resource = get_name(ld);
	s->last_active = get_i64(ld);
	s->max_minute = get_i64(ld);
	s->decided = get_i64(ld);
	check(ld, time_or_none(s->last_active), "a time out of range");
	if (s->max_minute == NONE)
		check(ld, s->decided == NONE, "decided minutes but no newest minute");
	else
		check(ld,
		      s->max_minute >= 0 && s->max_minute <= MINUTE_MAX &&
			  s->decided >= s->max_minute - MAX_OPEN && s->decided < s->max_minute,
		      "minutes out of range");
	for (int d = 0; d < N_DIM; d++) {
		struct dim *x = &s->tl.dim[d];

		x->cur = get_name(ld);
		x->cand = get_name(ld);
		x->cand_n = get_u32(ld);
		x->cand_start = get_i64(ld);
		check(ld, time_ok(x->cand_start), "a time out of range");
	}

	n = get_u32(ld);
	skip = n > max ? n - max : 0;
	s->tl.seg = load_array(ld, n, SEG_SIZE, sizeof(*s->tl.seg), n - skip, &s->tl.cap, &r);
	for (uint32_t i = 0; i < n && !ld->why && !r; i++) {
		struct seg g;

		g.start = get_i64(ld);
		g.confirm_at = get_i64(ld);
		g.last_seen = get_i64(ld);
		for (int d = 0; d < N_DIM; d++)
			g.v[d] = get_name(ld);
		for (int d = 0; d < N_DIM; d++)
			g.from[d] = get_name(ld);
		check(ld, time_ok(g.start) && time_ok(g.confirm_at) && time_ok(g.last_seen),
		      "a time out of range");
		if (build && i >= skip)
			s->tl.seg[s->tl.n++] = g;
	}
	if (build)
		c->counts.dropped += skip;

	int64_t prev = NONE;

	n = get_u32(ld);
	skip = n > max ? n - max : 0;
	s->chg = load_array(ld, n, CHG_SIZE, sizeof(*s->chg), n - skip, &s->cap_chg, &r);
	for (uint32_t i = 0; i < n && !ld->why && !r; i++) {
		struct chg g;

		g.time = get_i64(ld);
		g.op = get_u8(ld);
		g.model = get_name(ld);
		g.model_version = get_name(ld);
		g.detail = get_name(ld);
		g.operation = get_name(ld);
		check(ld, time_ok(g.time) && g.time >= prev, "changes out of range or order");
		check(ld, g.op >= 1 && g.op < TL_CHANGE_OP_COUNT_,
		      "a change of no known operation");
		prev = g.time;
		if (build && i >= skip)
			s->chg[s->n_chg++] = g;
	}
	if (build)
		c->counts.dropped += skip;

	n = get_u32(ld);
	skip = n > max ? n - max : 0;
	s->fire = load_array(ld, n, FIRE_SIZE, sizeof(*s->fire), n - skip, &s->cap_fire, &r);
	for (uint32_t i = 0; i < n && !ld->why && !r; i++) {
		struct fire f;

		f.onset = get_i64(ld);
		f.fired_at = get_i64(ld);
		f.resolved_at = get_i64(ld);
		f.reported_at = get_i64(ld);
		f.incident = get_le(ld, 8);
		check(ld,
		      time_ok(f.onset) && time_ok(f.fired_at) && time_or_none(f.resolved_at) &&
			  time_or_none(f.reported_at) &&
			  (f.reported_at == NONE || f.resolved_at != NONE),
		      "an incident's times out of range");
		if (build && i >= skip)
			s->fire[s->n_fire++] = f;
	}
	if (build)
		c->counts.dropped += skip;

	const uint8_t has_open = get_u8(ld);

	check(ld, has_open <= 1, "a bad flag");
	if (has_open != 1 || ld->why || r)
		return r;
	n = get_u32(ld);
	check(ld, n == 0 || s->max_minute != NONE, "open minutes but no newest minute");
	check(ld, n <= MAX_OPEN && fits(ld, n, MINUTE_SIZE), "more open minutes than there can be");
	if (build && !ld->why) {
		if (!(s->open = malloc(c->n_open * sizeof(*s->open))))
			return -ENOMEM;
		for (uint32_t i = 0; i < c->n_open; i++)
			s->open[i].m = NONE;
	}
	prev = s->decided;
	for (uint32_t i = 0; i < n && !ld->why; i++) {
		struct minute mn;

		memset(&mn, 0, sizeof(mn));
		mn.m = get_i64(ld);
		check(ld, mn.m > prev && mn.m <= s->max_minute,
		      "open minutes out of range or order");
		prev = mn.m;
		for (int d = 0; d < N_DIM; d++) {
			struct tally *t = &mn.d[d];

			for (int j = 0; j < TALLY; j++) {
				t->sym[j] = get_name(ld);
				t->n[j] = get_u32(ld);
				t->first[j] = get_i64(ld);
				check(ld, time_ok(t->first[j]), "a time out of range");
				check(ld, !t->sym[j] || !j || t->sym[j - 1],
				      "a tally out of order");
			}
			t->other = get_u32(ld);
		}
		if (!build || ld->why)
			continue;
		if (mn.m <= s->max_minute - (int64_t)c->n_open)
			decide(c, &s->tl, &mn); /* a shorter lateness: decided now */
		else
			s->open[(uint64_t)mn.m & (c->n_open - 1)] = mn;
	}
	return 0;
}

/*
 * The name table; with @syms, interned into @sym (ld->n_names + 1 entries).
 * Return: 0 (a bad table sets ld->why), or the error of tl_symtab_intern().
 */
static int load_names(struct loader *ld, struct tl_symtab *syms, uint32_t *sym)
{
	ld->n_names = get_u32(ld);
	check(ld, fits(ld, ld->n_names, 4 + 1), "more names than bytes");
	for (uint32_t i = 1; i <= ld->n_names && !ld->why; i++) {
		const uint32_t len = get_u32(ld);

		check(ld, len > 0 && ld->n - ld->off >= len, "a name runs past the end");
		if (ld->why)
			break;
		if (syms) {
			const int r =
			    tl_symtab_intern(syms, (const char *)ld->p + ld->off, len, &sym[i]);

			if (r < 0)
				return r;
		}
		ld->off += len;
	}
	return 0;
}

/*
 * What follows the names: checked, or with @tab (@mask + 1 slots) built into @tab and c.
 * Return: 0 (a bad record sets ld->why), or -ENOMEM.
 */
static int load_state(struct loader *ld, struct series **tab, size_t mask)
{
	struct tl_changes *c = ld->c;
	uint64_t *counts[] = {
		&c->counts.events,          &c->counts.changes,      &c->counts.repeated,
		&c->counts.version_changes, &c->counts.late,         &c->counts.dropped,
		&c->counts.series_dropped,  &c->counts.series_freed, &c->counts.oom,
	};
	const int64_t now = get_i64(ld), next_prune = get_i64(ld);
	uint64_t n_series, key = 0;

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		const uint64_t v = get_le(ld, 8);

		if (tab)
			*counts[i] = v;
	}
	ld->n_series = n_series = get_le(ld, 8);
	check(ld, time_or_none(now) && time_or_none(next_prune), "a time out of range");
	check(ld, fits(ld, n_series, SERIES_SIZE), "more series than bytes");
	if (tab) {
		c->now = now;
		c->next_prune = next_prune;
	}
	for (uint64_t i = 0; i < n_series && !ld->why; i++) {
		struct series one, *s = &one;

		if (tab && !(s = malloc(sizeof(*s))))
			return -ENOMEM;
		memset(s, 0, sizeof(*s));
		const int r = load_series(ld, s);

		check(ld, i == 0 || s->key > key, "series out of order");
		key = s->key;
		if (!tab)
			continue;
		if (r < 0 || ld->why) {
			series_free(s);
			return r;
		}
		size_t j = (size_t)tl_hash_mix(s->key) & mask;

		while (tab[j])
			j = (j + 1) & mask;
		tab[j] = s;
	}
	check(ld, ld->off == ld->n, "bytes after the last series");
	return 0;
}

static int load_error(char *err, size_t errlen, int r, const char *fmt, ...) TL_PRINTF(4, 5);
static int load_error(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return r;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return r;
}

int tl_changes_load(struct tl_changes *c, struct tl_symtab *syms, const void *p, size_t n,
		    char *err, size_t errlen)
{
	static const struct tl_changes_counts zero;
	const uint8_t *head = p;
	struct loader ld = { .c = c };
	struct series **tab = NULL;
	uint32_t *sym = NULL;
	size_t mask = 63;
	uint64_t len;
	int r;

	if (syms != c->syms || c->n_series || c->now != NONE ||
	    memcmp(&c->counts, &zero, sizeof(zero)))
		return load_error(err, errlen, -EINVAL,
				  "the tracker is not fresh from tl_changes_new(), or the symbol "
				  "table is not its own");
	if (n < 8 || memcmp(head, CKPT_MAGIC, 8))
		return load_error(err, errlen, TL_ECORRUPT, "not a change tracker checkpoint");
	if (n < CKPT_HEAD)
		return load_error(err, errlen, TL_ECORRUPT, "truncated: %zu bytes, a header is %d",
				  n, CKPT_HEAD);
	if (le_at(head + 8, 4) != CKPT_VERSION)
		return load_error(err, errlen, TL_EMISMATCH,
				  "format version %u; this build reads %d",
				  (unsigned)le_at(head + 8, 4), CKPT_VERSION);
	if (le_at(head + 12, 4))
		return load_error(err, errlen, TL_ECORRUPT, "corrupt: reserved header bytes set");
	len = le_at(head + 16, 8);
	if (len != n - CKPT_HEAD)
		return load_error(err, errlen, TL_ECORRUPT,
				  "%s: %zu bytes of state where the header says %llu",
				  len > n - CKPT_HEAD ? "truncated" : "bytes after the end",
				  n - CKPT_HEAD, (unsigned long long)len);
	ld.p = head + CKPT_HEAD;
	ld.n = (size_t)len;
	if (tl_hash64(ld.p, ld.n, TL_HASH_SEED) != le_at(head + 24, 8))
		return load_error(err, errlen, TL_ECORRUPT, "corrupt: the checksum does not match");

	/* check all of it */
	(void)load_names(&ld, NULL, NULL);
	if (!ld.why)
		(void)load_state(&ld, NULL, 0);
	if (ld.why)
		return load_error(err, errlen, TL_ECORRUPT, "corrupt: %s (byte %zu)", ld.why,
				  ld.off + CKPT_HEAD);

	/* then intern the names and build */
	while ((ld.n_series + 1) * 2 > mask + 1)
		mask = mask * 2 + 1;
	sym = calloc((size_t)ld.n_names + 1, sizeof(*sym));
	tab = calloc(mask + 1, sizeof(*tab));
	if (!sym || !tab) {
		r = -ENOMEM;
		goto fail;
	}
	ld.off = 0;
	if ((r = load_names(&ld, syms, sym)) < 0) {
		if (r == TL_ETOOBIG) /* a name no symbol table holds: no tracker wrote it */
			r = TL_ECORRUPT;
		goto fail;
	}
	ld.sym = sym;
	r = load_state(&ld, tab, mask);
	if (r < 0 || ld.why) {
		r = r < 0 ? r : TL_ECORRUPT; /* cannot happen: checked above */
		goto fail;
	}
	free(c->tab);
	c->tab = tab;
	c->tab_mask = mask;
	c->n_series = (size_t)ld.n_series;
	free(sym);
	return 0;
fail:
	for (size_t i = 0; tab && i <= mask; i++)
		if (tab[i])
			series_free(tab[i]);
	free(tab);
	free(sym);
	c->now = NONE;
	c->next_prune = NONE;
	c->counts = zero;
	return load_error(err, errlen, r, "loading the names and series: %s", tl_strerror(r));
}

/* ---- lifecycle -------------------------------------------------------------------------- */

struct tl_changes *tl_changes_new(const struct tl_changes_opts *opts, const struct tl_symtab *syms)
{
	struct tl_changes_opts o = opts ? *opts : (struct tl_changes_opts){ 0 };
	struct tl_changes *c;
	int64_t late_min;

	if (o.horizon_ns < 0 || o.recent_ns < 0 || o.stable_after_ns < 0 ||
	    o.change_window_ns < 0 || o.settle_ns < 0 || o.lateness_ns < 0 || o.lead_ns < 0)
		return NULL;
	if (!o.horizon_ns)
		o.horizon_ns = TL_NS_PER_DAY;
	if (!o.recent_ns)
		o.recent_ns = TL_NS_PER_HOUR;
	if (!o.stable_after_ns)
		o.stable_after_ns = TL_NS_PER_HOUR;
	if (!o.change_window_ns)
		o.change_window_ns = TL_NS_PER_HOUR;
	if (!o.settle_ns)
		o.settle_ns = 2 * TL_NS_PER_MIN;
	if (!o.lateness_ns)
		o.lateness_ns = 2 * TL_NS_PER_MIN;
	if (!o.lead_ns)
		o.lead_ns = TL_NS_PER_HOUR;
	if (!o.max_per_series)
		o.max_per_series = 64;
	if (!o.max_series)
		o.max_series = 1u << 20;
	/* minutes stay open past the lateness, plus the minute under way and a spare */
	late_min = (o.lateness_ns + TL_NS_PER_MIN - 1) / TL_NS_PER_MIN + 3;
	if (late_min > 64)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->o = o;
	c->syms = syms;
	c->fold_account = tl_fold_hash(TL_ACCOUNT_DEPLOYMENT, strlen(TL_ACCOUNT_DEPLOYMENT));
	c->n_open = 1;
	while (c->n_open < (uint32_t)late_min)
		c->n_open *= 2;
	c->settle = (uint32_t)((o.settle_ns + TL_NS_PER_MIN - 1) / TL_NS_PER_MIN);
	if (c->settle < 1)
		c->settle = 1;
	c->now = NONE;
	c->next_prune = NONE;
	c->tab_mask = 63;
	c->tab = calloc(c->tab_mask + 1, sizeof(*c->tab));
	c->cap_view = o.max_per_series + N_DIM * c->n_open + 1;
	c->view = calloc(c->cap_view, sizeof(*c->view));
	c->ivals = calloc((size_t)o.max_per_series + 1, sizeof(*c->ivals));
	c->cap_items = c->cap_view * N_DIM + 2 * o.max_per_series;
	c->items = calloc(c->cap_items, sizeof(*c->items));
	if (!c->tab || !c->view || !c->ivals || !c->items) {
		tl_changes_free(c);
		return NULL;
	}
	return c;
}

void tl_changes_free(struct tl_changes *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->tab && i <= c->tab_mask; i++)
		if (c->tab[i])
			series_free(c->tab[i]);
	free(c->tab);
	free(c->view);
	free(c->ivals);
	free(c->items);
	free(c);
}

const struct tl_changes_counts *tl_changes_get_counts(const struct tl_changes *c)
{
	return &c->counts;
}

size_t tl_changes_series_count(const struct tl_changes *c)
{
	return c->n_series;
}

size_t tl_changes_memory(const struct tl_changes *c)
{
	size_t n = sizeof(*c) + (c->tab_mask + 1) * sizeof(*c->tab) +
		   c->cap_view * sizeof(*c->view) + (c->o.max_per_series + 1) * sizeof(*c->ivals) +
		   c->cap_items * sizeof(*c->items);

	for (size_t i = 0; i <= c->tab_mask; i++) {
		const struct series *s = c->tab[i];

		if (!s)
			continue;
		n += sizeof(*s) + (s->open ? c->n_open * sizeof(*s->open) : 0) +
		     s->tl.cap * sizeof(*s->tl.seg) + s->cap_chg * sizeof(*s->chg) +
		     s->cap_fire * sizeof(*s->fire);
	}
	return n;
}
