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
 */
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
	} else if (m <= s->max_minute - c->n_open) {
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
