/*
 * store/retain.c - raw-record retention per series (see tripline/retain.h).
 *
 * A series is found through an open-addressing table (linear probing, backward-shift deletion)
 * keyed by its series key; the series themselves are heap objects that never move, listed in a
 * dense array for tl_retain_expire() to visit. A series stages records as
 *
 *   int64 time_ns | uint32 len | uint8 flags | len bytes      (host byte order, 13 + len bytes)
 *
 * and a seal hands the staging buffer over to a block as it is. Sealed blocks are in two lists
 * in seal order: the series' own (oldest at head) and a global one. Both are in seal order, so
 * the global head is always the head of its series' list. Blocks not yet considered for
 * compression are in two more lists (the series' and the global one): a bound that wants bytes
 * takes the newest first, skipping blocks a pin holds (a pin may read them on another thread).
 *
 * A block taken is a job: it goes to the compressor thread through a single-producer,
 * single-consumer queue, and into r->pend[], in order. The compressor only reads the block's
 * data and writes its result fields (zdata, zlen, zerr), then stores J_DONE under c->mu. The
 * adder collects the oldest job when r->lag are in flight and a new one is to start (waiting
 * on c->done if it is not done): only then does the block's data become the compressed bytes,
 * if it is still retained and no pin holds it. A job holds a reference to its block, so the
 * block outlives the compressor's use; a block dropped meanwhile is freed by its collection.
 *
 * Blocks are refcounted: the retention lists hold one reference, each pin holding the block one.
 * Dropping a block from retention unlinks it and releases the lists' reference; the last pin's
 * release frees it. The count is atomic because a closed pin may be released on another thread;
 * all else is owned by the adder thread. Non-logging.
 */
#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>
#include <zstd_errors.h>

#include <tripline/hash.h>
#include <tripline/retain.h>

#define HDR       13u   /* staged record header: time, len, flags */
#define STAGE_MIN 4096u /* first staging allocation */
#define TABLE_MIN 64u   /* first table size, a power of two */
#define SPARES    32u   /* staging buffers of block_bytes kept for reuse */
#define LAG_MAX   32u   /* compression jobs in flight at most; a power of two */

/* A block's compression job, in b->job. */
enum { J_NONE, J_QUEUED, J_DONE };

struct block {
	_Atomic uint32_t refs;
	_Atomic int job;  /* J_*; J_DONE is stored by the compressor under c->mu */
	uint32_t n;       /* records */
	uint32_t raw_len; /* staged bytes it holds, headers included */
	uint32_t size;    /* bytes of data, compressed or not */
	uint32_t cap;     /* bytes allocated at data */
	uint32_t acct;    /* bytes it counts for in held: size, or an estimate while pending */
	bool z;           /* data is one zstd frame */
	bool zq;          /* a candidate for compression, in both candidate lists */
	bool pending;     /* its compression job is not collected yet */
	bool dropped;     /* no longer retained (while pending) */
	int64_t min_t, max_t;
	struct block *next;            /* in its series' list, while retained */
	struct block *gprev, *gnext;   /* in the global list, while retained */
	struct block *zsprev, *zsnext; /* in its series' candidates, while zq */
	struct block *zgprev, *zgnext; /* in the global candidates, while zq */
	struct series *s;
	unsigned char *data;
	/* the job's result: written by whoever compresses, read by the adder after J_DONE */
	unsigned char *zdata;
	size_t zlen;
	int zerr;
};

/*
 * The compressor thread and its queue of jobs (single producer: the adder, single consumer:
 * the compressor). It only reads a queued block's data and writes the block's result fields.
 */
struct compressor {
	alignas(64) _Atomic size_t head; /* written by the compressor only */
	alignas(64) _Atomic size_t tail; /* written by the adder only */
	alignas(64) struct block *q[LAG_MAX];
	_Atomic bool sleeping; /* the compressor waits, or is about to, on work */
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	bool stop;    /* under mu */
	bool waiting; /* under mu: the adder waits on done */
	pthread_t thread;
	ZSTD_CCtx *cctx;
	unsigned char *scratch;
	size_t scratch_cap;
};

struct series {
	uint64_t key;
	uint32_t idx; /* in r->all[] */
	uint32_t stage_n;
	size_t stage_len, stage_cap;
	size_t stage_next; /* capacity of the next staging buffer */
	unsigned char *stage;
	int64_t stage_min, stage_max; /* event times staged */
	int64_t last_t;               /* newest event time added */
	int64_t dropped_until;
	struct block *head, *tail;
	struct block *zhead, *ztail; /* blocks not yet considered for compression */
	size_t held;                 /* bytes of the retained blocks */
	struct tl_retain_pin *pins;
};

struct slot {
	uint64_t key;
	struct series *s; /* NULL: empty */
};

struct tl_retain {
	struct tl_retain_opts o;
	ZSTD_CCtx *cctx;
	unsigned char *scratch;
	size_t scratch_cap;
	struct compressor *c;        /* NULL: the adder compresses */
	struct block *pend[LAG_MAX]; /* jobs not collected, oldest at pend_head */
	uint32_t pend_head, n_pend, lag;
	uint64_t est_in, est_out; /* results collected, for the estimate of pending ones */
	struct slot *slots;
	size_t mask; /* slots - 1 */
	struct series **all;
	uint32_t n_all, cap_all;
	struct block *ghead, *gtail;
	struct block *zhead, *ztail;  /* blocks not yet considered for compression */
	unsigned char *spare[SPARES]; /* dropped blocks' buffers of block_bytes, for staging */
	uint32_t n_spare;
	int64_t freed_until; /* newest dropped time of any forgotten series */
	struct tl_retain_stats st;
};

struct tl_retain_pin {
	struct tl_retain *r; /* NULL once closed */
	struct series *s;    /* NULL once closed */
	struct tl_retain_pin *next;
	struct block **blocks;
	size_t n, cap;
	bool full; /* a block was omitted: every later one is too */
	size_t max_bytes;
	struct tl_retain_pin_stats st;
};

static void block_unref(struct block *b)
{
	/* acq_rel: the last release must see every other holder's use of the block done */
	if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
		free(b->data);
		free(b);
	}
}

/* Whether only the retention holds @b: no pin reads it, none can start to. */
static bool block_is_own(struct block *b)
{
	/* acquire pairs with a pin's release in block_unref(): its reads are done */
	return atomic_load_explicit(&b->refs, memory_order_acquire) == 1;
}

/* -- the series table -- */

static size_t home_of(const struct tl_retain *r, uint64_t key)
{
	return (size_t)tl_hash_mix(key) & r->mask;
}

static struct series *lookup(const struct tl_retain *r, uint64_t key)
{
	for (size_t i = home_of(r, key);; i = (i + 1) & r->mask) {
		const struct slot *sl = &r->slots[i];

		if (!sl->s)
			return NULL;
		if (sl->key == key)
			return sl->s;
	}
}

static void table_put(struct slot *slots, size_t mask, uint64_t key, struct series *s)
{
	size_t i = (size_t)tl_hash_mix(key) & mask;

	while (slots[i].s)
		i = (i + 1) & mask;
	slots[i].key = key;
	slots[i].s = s;
}

static int table_grow(struct tl_retain *r)
{
	size_t n = (r->mask + 1) * 2;
	struct slot *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i <= r->mask; i++)
		if (r->slots[i].s)
			table_put(slots, n - 1, r->slots[i].key, r->slots[i].s);
	free(r->slots);
	r->slots = slots;
	r->mask = n - 1;
	return 0;
}

static void table_remove(struct tl_retain *r, uint64_t key)
{
	size_t i = home_of(r, key);

	while (r->slots[i].key != key || !r->slots[i].s)
		i = (i + 1) & r->mask;
	/* backward shift: move up each later entry of the cluster that may live at the hole */
	for (size_t j = (i + 1) & r->mask; r->slots[j].s; j = (j + 1) & r->mask) {
		size_t h = home_of(r, r->slots[j].key);
		bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);

		if (!stays) {
			r->slots[i] = r->slots[j];
			i = j;
		}
	}
	r->slots[i].s = NULL;
}

static int series_new(struct tl_retain *r, uint64_t key, struct series **ret_s)
{
	struct series *s;

	if (r->n_all >= r->o.max_series)
		return TL_EFULL;
	if ((size_t)(r->n_all + 1) * 2 > r->mask + 1 && table_grow(r) < 0)
		return -ENOMEM;
	if (r->n_all == r->cap_all) {
		uint32_t cap = r->cap_all ? r->cap_all * 2 : 64;
		struct series **all = realloc(r->all, cap * sizeof(*all));

		if (!all)
			return -ENOMEM;
		r->all = all;
		r->cap_all = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->key = key;
	s->idx = r->n_all;
	s->last_t = INT64_MIN;
	s->stage_next = STAGE_MIN;
	s->dropped_until = r->freed_until;
	r->all[r->n_all++] = s;
	table_put(r->slots, r->mask, key, s);
	*ret_s = s;
	return 0;
}

/* Forget @s: it has no blocks, staged records or pins. */
static void series_free(struct tl_retain *r, struct series *s)
{
	struct series *last = r->all[--r->n_all];

	last->idx = s->idx;
	r->all[s->idx] = last;
	table_remove(r, s->key);
	if (s->dropped_until > r->freed_until)
		r->freed_until = s->dropped_until;
	free(s->stage);
	free(s);
	r->st.series_freed++;
}

/* -- blocks -- */

/* Make @b, newly sealed, the newest candidate for compression. */
static void zpush(struct tl_retain *r, struct series *s, struct block *b)
{
	b->zq = true;
	b->zsnext = NULL;
	b->zsprev = s->ztail;
	if (s->ztail)
		s->ztail->zsnext = b;
	else
		s->zhead = b;
	s->ztail = b;
	b->zgnext = NULL;
	b->zgprev = r->ztail;
	if (r->ztail)
		r->ztail->zgnext = b;
	else
		r->zhead = b;
	r->ztail = b;
}

/* @b is no longer a candidate for compression: considered, or dropped. */
static void zremove(struct tl_retain *r, struct block *b)
{
	struct series *s = b->s;

	if (!b->zq)
		return;
	b->zq = false;
	if (b->zsprev)
		b->zsprev->zsnext = b->zsnext;
	else
		s->zhead = b->zsnext;
	if (b->zsnext)
		b->zsnext->zsprev = b->zsprev;
	else
		s->ztail = b->zsprev;
	if (b->zgprev)
		b->zgprev->zgnext = b->zgnext;
	else
		r->zhead = b->zgnext;
	if (b->zgnext)
		b->zgnext->zgprev = b->zgprev;
	else
		r->ztail = b->zgprev;
}

/* Keep @data, a raw block's buffer of @cap bytes, for staging if it has block_bytes. */
static void spare_or_free(struct tl_retain *r, unsigned char *data, size_t cap)
{
	if (cap == r->o.block_bytes && r->n_spare < SPARES)
		r->spare[r->n_spare++] = data; /* saves a page-faulting allocation */
	else
		free(data);
}

static void drop_head(struct tl_retain *r, struct series *s, uint64_t *ret_records)
{
	struct block *b = s->head;

	s->head = b->next;
	if (!s->head)
		s->tail = NULL;
	zremove(r, b);
	if (b->gprev)
		b->gprev->gnext = b->gnext;
	else
		r->ghead = b->gnext;
	if (b->gnext)
		b->gnext->gprev = b->gprev;
	else
		r->gtail = b->gprev;
	s->held -= b->acct;
	r->st.blocks--;
	r->st.held_bytes -= b->acct;
	if (!b->z && !b->pending)
		r->st.raw_bytes -= b->size;
	b->dropped = true; /* collect() frees what a pending job leaves */
	r->st.records -= b->n;
	if (b->max_t > s->dropped_until)
		s->dropped_until = b->max_t;
	*ret_records += b->n;
	if (!b->z && block_is_own(b)) {
		spare_or_free(r, b->data, b->cap);
		b->data = NULL;
	}
	block_unref(b);
}

static void pin_omit(struct tl_retain_pin *pin, uint32_t n_records)
{
	pin->full = true;
	pin->st.omitted_records += n_records;
}

static void pin_hold(struct tl_retain_pin *pin, struct block *b)
{
	struct tl_retain_pin_stats *st = &pin->st;

	/* relaxed: the holder already has a reference, so the block cannot go meanwhile */
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	pin->blocks[pin->n++] = b;
	if (st->blocks++ == 0 || b->min_t < st->first_ns)
		st->first_ns = b->min_t;
	if (st->blocks == 1 || b->max_t > st->last_ns)
		st->last_ns = b->max_t;
	st->records += b->n;
	st->bytes += b->size;
	st->raw_bytes += b->raw_len - (uint64_t)b->n * HDR;
}

/* Give a newly sealed block to an open pin, or count it omitted. */
static void pin_take(struct tl_retain_pin *pin, struct block *b)
{
	if (pin->full || pin->st.bytes + b->size > pin->max_bytes) {
		pin_omit(pin, b->n);
		return;
	}
	if (pin->n == pin->cap) {
		size_t cap = pin->cap * 2 + 8;
		struct block **v = realloc(pin->blocks, cap * sizeof(*v));

		if (!v) {
			pin_omit(pin, b->n);
			return;
		}
		pin->blocks = v;
		pin->cap = cap;
	}
	pin_hold(pin, b);
}

/* The staged records of @s are lost (a seal failed): count them as dropped. */
static void stage_lose(struct tl_retain *r, struct series *s)
{
	for (struct tl_retain_pin *p = s->pins; p; p = p->next)
		pin_omit(p, s->stage_n);
	if (s->stage_max > s->dropped_until)
		s->dropped_until = s->stage_max;
	r->st.records_lost += s->stage_n;
	r->st.staged_bytes -= s->stage_len;
	r->st.staged_records -= s->stage_n;
	s->stage_len = 0;
	s->stage_n = 0;
}

static int zstd_err(size_t z)
{
	return ZSTD_getErrorCode(z) == ZSTD_error_memory_allocation ? -ENOMEM : TL_ECOMPRESS;
}

/* Compress @b's data into the job's result fields with @cctx and the scratch buffer given. */
static void zjob(ZSTD_CCtx *cctx, unsigned char **scratch, size_t *scratch_cap, struct block *b)
{
	size_t bound = ZSTD_compressBound(b->size), z;
	unsigned char *p;

	b->zdata = NULL;
	b->zerr = 0;
	if (bound > *scratch_cap) {
		p = realloc(*scratch, bound);
		if (!p) {
			b->zerr = -ENOMEM;
			return;
		}
		*scratch = p;
		*scratch_cap = bound;
	}
	z = ZSTD_compress2(cctx, *scratch, *scratch_cap, b->data, b->size);
	if (ZSTD_isError(z)) {
		b->zerr = zstd_err(z);
		return;
	}
	b->zlen = z;
	if (z >= b->size)
		return; /* incompressible: no result, the block stays as it is */
	b->zdata = malloc(z);
	if (!b->zdata) {
		b->zerr = -ENOMEM;
		return;
	}
	memcpy(b->zdata, *scratch, z);
}

static void *compressor_main(void *arg)
{
	struct compressor *c = arg;

	for (;;) {
		const size_t h = atomic_load_explicit(&c->head, memory_order_relaxed);
		/* acquire pairs with the adder's release in submit(): the slot and block are set */
		const size_t t = atomic_load_explicit(&c->tail, memory_order_acquire);

		if (h == t) {
			bool stop;

			(void)pthread_mutex_lock(&c->mu);
			atomic_store(&c->sleeping, true);
			/* seq_cst: either the adder sees sleeping and signals under mu, or this
			 * sees its new tail (the adder fences between storing tail and loading
			 * sleeping) */
			atomic_thread_fence(memory_order_seq_cst);
			if (atomic_load(&c->tail) == h && !c->stop)
				(void)pthread_cond_wait(&c->work, &c->mu);
			atomic_store(&c->sleeping, false);
			stop = c->stop && atomic_load(&c->tail) == h;
			(void)pthread_mutex_unlock(&c->mu);
			if (stop)
				return NULL;
			continue;
		}
		struct block *b = c->q[h & (LAG_MAX - 1)];

		/* release: the adder may reuse the slot once it has read the new head */
		atomic_store_explicit(&c->head, h + 1, memory_order_release);
		zjob(c->cctx, &c->scratch, &c->scratch_cap, b);
		(void)pthread_mutex_lock(&c->mu);
		/* release publishes the result fields; under mu, so the adder's wait sees it */
		atomic_store_explicit(&b->job, J_DONE, memory_order_release);
		if (c->waiting)
			(void)pthread_cond_signal(&c->done);
		(void)pthread_mutex_unlock(&c->mu);
		/* b is the adder's again: not touched past here */
	}
}

/* What @b, about to be compressed, counts for in held until its job is collected. */
static uint32_t estimate(const struct tl_retain *r, const struct block *b)
{
	/* est_out can near 2^40, so size * est_out may not fit 64 bits: scale in double (the
	 * same inputs give the same answer, so decisions stay deterministic) */
	uint64_t e = r->est_in
			 ? (uint64_t)((double)b->size * (double)r->est_out / (double)r->est_in)
			 : b->size / 2;

	return (uint32_t)(e < 1 ? 1 : e > b->size ? b->size : e);
}

/*
 * Collect the oldest job: wait for its result if need be, then swap the block's data for it
 * if the block is still retained and no pin holds it, and count its true size in held.
 */
static int collect(struct tl_retain *r)
{
	struct block *b = r->pend[r->pend_head];
	struct compressor *c = r->c;
	int rc;

	r->pend_head = (r->pend_head + 1) & (LAG_MAX - 1);
	r->n_pend--;
	/* acquire pairs with the compressor's release: the result fields are written */
	if (atomic_load_explicit(&b->job, memory_order_acquire) != J_DONE) {
		(void)pthread_mutex_lock(&c->mu);
		while (atomic_load_explicit(&b->job, memory_order_acquire) != J_DONE) {
			c->waiting = true;
			(void)pthread_cond_wait(&c->done, &c->mu);
		}
		c->waiting = false;
		(void)pthread_mutex_unlock(&c->mu);
	}
	atomic_store_explicit(&b->job, J_NONE, memory_order_relaxed);
	b->pending = false;
	rc = b->zerr;
	if (!rc) {
		r->est_in += b->size;
		r->est_out += b->zdata ? b->zlen : b->size;
		if (r->est_in > (UINT64_C(1) << 40)) {
			r->est_in /= 2;
			r->est_out /= 2;
		}
	}
	if (b->dropped) {
		free(b->zdata);
		b->zdata = NULL;
		/* only the job holds it: the last reference, no pin reads it */
		if (block_is_own(b)) {
			spare_or_free(r, b->data, b->cap);
			b->data = NULL;
		}
		block_unref(b);
		return rc;
	}
	struct series *s = b->s;
	/* the list's reference and the job's: no pin reads the data, none can start to */
	const bool own = atomic_load_explicit(&b->refs, memory_order_acquire) == 2;
	uint32_t acct = b->size;

	if (b->zdata && own) {
		acct = (uint32_t)b->zlen;
		spare_or_free(r, b->data, b->cap);
		b->data = b->zdata;
		b->cap = acct;
		r->st.blocks_compressed++;
		r->st.compressed_in += b->size;
		r->st.compressed_out += acct;
		b->size = acct;
		b->z = true;
	} else {
		free(b->zdata);
		r->st.raw_bytes += b->size;
	}
	b->zdata = NULL;
	s->held = s->held - b->acct + acct;
	r->st.held_bytes = r->st.held_bytes - b->acct + acct;
	b->acct = acct;
	block_unref(b);
	return rc;
}

/*
 * Compress @b, which only the retention holds: on the compressor thread if there is one. Until
 * the job is collected, LAG jobs later (or when the retention is freed), @b counts for an
 * estimate of its compressed size in held and for nothing in raw_bytes; the estimate and the
 * points of collection depend on the calls alone, so the bounds decide the same whichever
 * thread compresses and however fast.
 */
static int submit(struct tl_retain *r, struct block *b)
{
	struct compressor *c = r->c;
	uint32_t est;
	int rc = 0;

	if (r->n_pend == r->lag)
		rc = collect(r);
	est = estimate(r, b);
	b->s->held = b->s->held - b->acct + est;
	r->st.held_bytes = r->st.held_bytes - b->acct + est;
	r->st.raw_bytes -= b->size;
	b->acct = est;
	b->pending = true;
	/* relaxed: the adder holds a reference already; the job's is released by collect() */
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	r->pend[(r->pend_head + r->n_pend++) & (LAG_MAX - 1)] = b;
	if (!c) {
		zjob(r->cctx, &r->scratch, &r->scratch_cap, b);
		atomic_store_explicit(&b->job, J_DONE, memory_order_relaxed);
		return rc;
	}
	/* the queue holds at most the n_pend <= LAG_MAX jobs not collected: never full */
	const size_t t = atomic_load_explicit(&c->tail, memory_order_relaxed);

	atomic_store_explicit(&b->job, J_QUEUED, memory_order_relaxed);
	c->q[t & (LAG_MAX - 1)] = b;
	/* release publishes the slot and the block before the tail */
	atomic_store_explicit(&c->tail, t + 1, memory_order_release);
	/* seq_cst pairs with the compressor's fence before it checks the tail and sleeps */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&c->sleeping)) {
		(void)pthread_mutex_lock(&c->mu);
		(void)pthread_cond_signal(&c->work);
		(void)pthread_mutex_unlock(&c->mu);
	}
	return rc;
}

/* Enforce the byte bounds after a seal of @s: compress, then drop. */
static int bound(struct tl_retain *r, struct series *s)
{
	int rc = 0;

	while (rc == 0 && s->held > r->o.max_series_bytes && s->ztail) {
		struct block *b = s->ztail;

		zremove(r, b);
		if (block_is_own(b))
			rc = submit(r, b);
	}
	while (s->head && s->held > r->o.max_series_bytes)
		drop_head(r, s, &r->st.dropped_series_records);
	while (rc == 0 && r->st.raw_bytes > r->o.max_raw_bytes && r->ztail) {
		struct block *b = r->ztail;

		zremove(r, b);
		if (block_is_own(b))
			rc = submit(r, b);
	}
	while (r->o.max_total_bytes && r->ghead && r->st.held_bytes > r->o.max_total_bytes)
		drop_head(r, r->ghead->s, &r->st.dropped_total_records);
	return rc;
}

/*
 * Make the staged records of @s a block, handing the staging buffer over; @full: sealed for
 * block_bytes, so the next staging buffer is allocated whole at once.
 */
static int seal(struct tl_retain *r, struct series *s, bool full)
{
	struct block *b = malloc(sizeof(*b));

	if (!b) {
		stage_lose(r, s);
		return -ENOMEM;
	}
	if (s->stage_cap - s->stage_len > STAGE_MIN) {
		unsigned char *p = realloc(s->stage, s->stage_len);

		if (p) {
			s->stage = p;
			s->stage_cap = s->stage_len;
		}
	}
	atomic_init(&b->refs, 1);
	atomic_init(&b->job, J_NONE);
	b->n = s->stage_n;
	b->raw_len = (uint32_t)s->stage_len;
	b->size = (uint32_t)s->stage_len;
	b->acct = b->size;
	b->cap = (uint32_t)s->stage_cap;
	b->z = false;
	b->pending = false;
	b->dropped = false;
	b->zdata = NULL;
	b->min_t = s->stage_min;
	b->max_t = s->stage_max;
	b->next = NULL;
	b->gnext = NULL;
	b->gprev = r->gtail;
	b->s = s;
	b->data = s->stage;

	r->st.staged_bytes -= s->stage_len;
	r->st.staged_records -= s->stage_n;
	r->st.blocks_sealed++;
	r->st.sealed_bytes += s->stage_len;
	s->stage = NULL;
	s->stage_cap = 0;
	s->stage_len = 0;
	s->stage_n = 0;
	s->stage_next = full ? r->o.block_bytes : STAGE_MIN;

	for (struct tl_retain_pin *p = s->pins; p; p = p->next)
		pin_take(p, b);
	if (s->tail)
		s->tail->next = b;
	else
		s->head = b;
	s->tail = b;
	if (r->gtail)
		r->gtail->gnext = b;
	else
		r->ghead = b;
	r->gtail = b;
	zpush(r, s, b);
	s->held += b->size;
	r->st.blocks++;
	r->st.held_bytes += b->size;
	r->st.raw_bytes += b->size;
	r->st.records += b->n;
	return bound(r, s);
}

/* -- the API -- */

static void compressor_free(struct compressor *c)
{
	ZSTD_freeCCtx(c->cctx);
	free(c->scratch);
	free(c);
}

/* Start the compressor thread, its CCtx set up as the adder's. Return: 0 or -errno. */
static int compressor_start(struct tl_retain *r)
{
	struct compressor *c = calloc(1, sizeof(*c));
	int e;

	if (!c)
		return -ENOMEM;
	c->cctx = ZSTD_createCCtx();
	if (!c->cctx) {
		free(c);
		return -ENOMEM;
	}
	(void)ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, r->o.level);
	if (r->o.window_log)
		(void)ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_windowLog, r->o.window_log);
	atomic_init(&c->head, 0);
	atomic_init(&c->tail, 0);
	atomic_init(&c->sleeping, false);
	if ((e = pthread_mutex_init(&c->mu, NULL)) != 0)
		goto out_free;
	if ((e = pthread_cond_init(&c->work, NULL)) != 0)
		goto out_mutex;
	if ((e = pthread_cond_init(&c->done, NULL)) != 0)
		goto out_work;
	if ((e = pthread_create(&c->thread, NULL, compressor_main, c)) != 0)
		goto out_done;
	r->c = c;
	return 0;

out_done:
	(void)pthread_cond_destroy(&c->done);
out_work:
	(void)pthread_cond_destroy(&c->work);
out_mutex:
	(void)pthread_mutex_destroy(&c->mu);
out_free:
	compressor_free(c);
	return -e;
}

/* Stop the compressor after its queue, then release the jobs not collected. */
static void compressor_stop(struct tl_retain *r)
{
	struct compressor *c = r->c;

	if (c) {
		(void)pthread_mutex_lock(&c->mu);
		c->stop = true;
		(void)pthread_cond_signal(&c->work);
		(void)pthread_mutex_unlock(&c->mu);
		(void)pthread_join(c->thread, NULL);
		(void)pthread_cond_destroy(&c->done);
		(void)pthread_cond_destroy(&c->work);
		(void)pthread_mutex_destroy(&c->mu);
		compressor_free(c);
		r->c = NULL;
	}
	for (; r->n_pend; r->n_pend--) {
		struct block *b = r->pend[r->pend_head];

		r->pend_head = (r->pend_head + 1) & (LAG_MAX - 1);
		free(b->zdata);
		b->zdata = NULL;
		block_unref(b);
	}
}

int tl_retain_new(const struct tl_retain_opts *opts, struct tl_retain **ret_r)
{
	struct tl_retain *r = calloc(1, sizeof(*r));
	size_t z;

	if (!r)
		return -ENOMEM;
	if (opts)
		r->o = *opts;
	if (!r->o.block_bytes)
		r->o.block_bytes = TL_RETAIN_BLOCK_BYTES;
	if (r->o.block_bytes > UINT32_MAX / 2)
		r->o.block_bytes = UINT32_MAX / 2;
	if (!r->o.keep_ns)
		r->o.keep_ns = TL_RETAIN_KEEP_NS;
	if (!r->o.stage_ns)
		r->o.stage_ns = TL_RETAIN_STAGE_NS;
	if (!r->o.max_raw_bytes)
		r->o.max_raw_bytes = TL_RETAIN_MAX_RAW_BYTES;
	if (!r->o.max_series_bytes)
		r->o.max_series_bytes = TL_RETAIN_MAX_SERIES_BYTES;
	if (!r->o.max_pin_bytes)
		r->o.max_pin_bytes = TL_RETAIN_MAX_PIN_BYTES;
	if (!r->o.max_series)
		r->o.max_series = TL_RETAIN_MAX_SERIES;
	if (!r->o.level)
		r->o.level = TL_RETAIN_LEVEL;
	r->freed_until = INT64_MIN;
	r->cctx = ZSTD_createCCtx();
	r->slots = calloc(TABLE_MIN, sizeof(*r->slots));
	r->mask = TABLE_MIN - 1;
	if (!r->cctx || !r->slots) {
		tl_retain_free(r);
		return -ENOMEM;
	}
	z = ZSTD_CCtx_setParameter(r->cctx, ZSTD_c_compressionLevel, r->o.level);
	if (!ZSTD_isError(z) && r->o.window_log)
		z = ZSTD_CCtx_setParameter(r->cctx, ZSTD_c_windowLog, r->o.window_log);
	if (ZSTD_isError(z)) {
		tl_retain_free(r);
		return TL_ECONFIG;
	}
	r->lag = (uint32_t)(r->o.max_series_bytes / r->o.block_bytes / 4);
	r->lag = r->lag < 1 ? 1 : r->lag > LAG_MAX ? LAG_MAX : r->lag;
	if (r->o.threads >= 0 && (z = compressor_start(r)) != 0) {
		tl_retain_free(r);
		return (int)z;
	}
	*ret_r = r;
	return 0;
}

void tl_retain_free(struct tl_retain *r)
{
	if (!r)
		return;
	compressor_stop(r);
	for (uint32_t i = 0; i < r->n_all; i++) {
		struct series *s = r->all[i];

		for (struct tl_retain_pin *p = s->pins, *next; p; p = next) {
			next = p->next;
			p->r = NULL;
			p->s = NULL;
			p->next = NULL;
		}
		for (struct block *b = s->head, *next; b; b = next) {
			next = b->next;
			block_unref(b);
		}
		free(s->stage);
		free(s);
	}
	for (uint32_t i = 0; i < r->n_spare; i++)
		free(r->spare[i]);
	free(r->all);
	free(r->slots);
	free(r->scratch);
	ZSTD_freeCCtx(r->cctx);
	free(r);
}

int tl_retain_add(struct tl_retain *r, uint64_t series, int64_t time_ns, const void *raw,
		  uint32_t len, uint8_t flags)
{
	struct series *s = lookup(r, series);
	size_t need = HDR + (size_t)len;
	unsigned char *p;
	int rc = 0;

	if (TL_UNLIKELY(!s)) {
		rc = series_new(r, series, &s);
		if (rc < 0) {
			r->st.records_rejected++;
			return rc;
		}
	}
	if (s->stage_len && s->stage_len + need > r->o.block_bytes)
		rc = seal(r, s, true);
	if (TL_UNLIKELY(s->stage_cap - s->stage_len < need)) {
		size_t cap = s->stage_cap ? s->stage_cap : s->stage_next;

		if (!s->stage && cap == r->o.block_bytes && need <= cap && r->n_spare) {
			s->stage = r->spare[--r->n_spare];
			s->stage_cap = cap;
			goto staged;
		}

		while (cap < s->stage_len + need)
			cap *= 2;
		if (cap > r->o.block_bytes)
			cap = r->o.block_bytes > s->stage_len + need ? r->o.block_bytes
								     : s->stage_len + need;
		p = realloc(s->stage, cap);
		if (!p) {
			r->st.records_rejected++;
			return -ENOMEM;
		}
		s->stage = p;
		s->stage_cap = cap;
	}
staged:
	p = s->stage + s->stage_len;
	memcpy(p, &time_ns, 8);
	memcpy(p + 8, &len, 4);
	p[12] = flags;
	if (len)
		memcpy(p + HDR, raw, len);
	if (s->stage_n++ == 0) {
		s->stage_min = time_ns;
		s->stage_max = time_ns;
	} else if (time_ns < s->stage_min) {
		s->stage_min = time_ns;
	} else if (time_ns > s->stage_max) {
		s->stage_max = time_ns;
	}
	if (time_ns > s->last_t)
		s->last_t = time_ns;
	s->stage_len += need;
	r->st.records_in++;
	r->st.bytes_in += len;
	r->st.staged_bytes += need;
	r->st.staged_records++;
	if (s->stage_len >= r->o.block_bytes) {
		int rc2 = seal(r, s, true);

		if (rc == 0)
			rc = rc2;
	}
	return rc;
}

static int64_t sub_sat(int64_t t, int64_t d)
{
	return t < INT64_MIN + d ? INT64_MIN : t - d;
}

int tl_retain_expire(struct tl_retain *r, int64_t watermark_ns)
{
	int64_t cut = sub_sat(watermark_ns, r->o.keep_ns);
	int64_t stage_cut = sub_sat(watermark_ns, r->o.stage_ns);
	int rc = 0;

	for (uint32_t i = 0; i < r->n_all;) {
		struct series *s = r->all[i];

		while (s->head && s->head->max_t < cut)
			drop_head(r, s, &r->st.dropped_time_records);
		if (s->stage_n && s->stage_max < cut && !s->pins) {
			/* all too old: dropped without ever being compressed */
			if (s->stage_max > s->dropped_until)
				s->dropped_until = s->stage_max;
			r->st.dropped_time_records += s->stage_n;
			r->st.staged_bytes -= s->stage_len;
			r->st.staged_records -= s->stage_n;
			s->stage_len = 0;
			s->stage_n = 0;
		} else if (s->stage_n && (s->stage_min < stage_cut || s->stage_max < cut)) {
			/* (with a pin open, staged records too old to keep are sealed into a block
			 * the pin collects, whatever retention does with it after) */
			int rc2 = seal(r, s, false);

			if (rc == 0)
				rc = rc2;
		}
		if (!s->stage_n && s->stage && s->last_t < stage_cut) {
			free(s->stage);
			s->stage = NULL;
			s->stage_cap = 0;
		}
		if (!s->head && !s->stage_n && !s->pins && s->last_t < cut) {
			series_free(r, s); /* moves the last series to i */
			continue;
		}
		i++;
	}
	return rc;
}

int64_t tl_retain_dropped_until(const struct tl_retain *r, uint64_t series)
{
	const struct series *s = lookup(r, series);

	return s ? s->dropped_until : r->freed_until;
}

void tl_retain_missing_until(struct tl_retain *r, int64_t t)
{
	if (t > r->freed_until)
		r->freed_until = t; /* what series seen later start with */
	for (size_t i = 0; i < r->n_all; i++)
		if (t > r->all[i]->dropped_until)
			r->all[i]->dropped_until = t;
}

void tl_retain_stats(const struct tl_retain *r, struct tl_retain_stats *ret_st)
{
	uint64_t pins = 0;

	for (uint32_t i = 0; i < r->n_all; i++)
		for (const struct tl_retain_pin *p = r->all[i]->pins; p; p = p->next)
			pins++;
	*ret_st = r->st;
	ret_st->series = r->n_all;
	ret_st->pins = pins;
	ret_st->compression_ratio =
	    r->st.compressed_out ? (double)r->st.compressed_in / (double)r->st.compressed_out : 0.0;
}

int tl_retain_pin(struct tl_retain *r, uint64_t series, struct tl_retain_pin **ret_pin)
{
	struct series *s = lookup(r, series);
	struct tl_retain_pin *pin;
	size_t total;
	struct block *b;
	int rc;

	if (!s) {
		rc = series_new(r, series, &s);
		if (rc < 0)
			return rc;
	}
	pin = calloc(1, sizeof(*pin));
	if (!pin)
		return -ENOMEM;
	pin->max_bytes = r->o.max_pin_bytes;
	pin->st.series = series;
	if (s->stage_n)
		(void)seal(r, s, false); /* a failure loses them: dropped_until tells */
	pin->st.dropped_until = s->dropped_until;
	/* the newest blocks that fit */
	total = 0;
	for (b = s->head; b; b = b->next)
		total += b->size;
	for (b = s->head; b && total > pin->max_bytes; b = b->next) {
		pin->st.omitted_records += b->n;
		total -= b->size;
	}
	pin->cap = 8;
	for (struct block *c = b; c; c = c->next)
		pin->cap++;
	pin->blocks = malloc(pin->cap * sizeof(*pin->blocks));
	if (!pin->blocks) {
		free(pin);
		return -ENOMEM;
	}
	for (; b; b = b->next)
		pin_hold(pin, b);
	pin->r = r;
	pin->s = s;
	pin->next = s->pins;
	s->pins = pin;
	*ret_pin = pin;
	return 0;
}

static int pin_close(struct tl_retain_pin *pin)
{
	struct series *s = pin->s;
	struct tl_retain_pin **pp;
	int rc = 0;

	if (!s)
		return 0;
	if (s->stage_n)
		rc = seal(pin->r, s, false);
	for (pp = &s->pins; *pp != pin; pp = &(*pp)->next)
		;
	*pp = pin->next;
	pin->next = NULL;
	pin->s = NULL;
	pin->r = NULL;
	return rc;
}

int tl_retain_pin_close(struct tl_retain_pin *pin)
{
	return pin_close(pin);
}

int tl_retain_pin_each(struct tl_retain_pin *pin,
		       int (*cb)(void *ud, int64_t time_ns, uint8_t flags, const void *raw,
				 uint32_t len),
		       void *ud)
{
	ZSTD_DCtx *dctx;
	unsigned char *buf = NULL;
	size_t cap = 0;
	int rc;

	rc = pin_close(pin);
	if (rc < 0)
		return rc;
	dctx = ZSTD_createDCtx();
	if (!dctx)
		return -ENOMEM;
	(void)ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax,
				     ZSTD_dParam_getBounds(ZSTD_d_windowLogMax).upperBound);
	for (size_t i = 0; i < pin->n && rc == 0; i++) {
		const struct block *b = pin->blocks[i];
		const unsigned char *d = b->data;
		size_t z = b->size;

		if (b->z && b->raw_len > cap) {
			unsigned char *p = realloc(buf, b->raw_len);

			if (!p) {
				rc = -ENOMEM;
				break;
			}
			buf = p;
			cap = b->raw_len;
		}
		if (b->z) {
			z = ZSTD_decompressDCtx(dctx, buf, cap, b->data, b->size);
			if (ZSTD_isError(z) || z != b->raw_len) {
				rc = ZSTD_isError(z) ? zstd_err(z) : TL_ECOMPRESS;
				break;
			}
			d = buf;
		}
		for (size_t off = 0; off + HDR <= z && rc == 0;) {
			int64_t t;
			uint32_t len;

			memcpy(&t, d + off, 8);
			memcpy(&len, d + off + 8, 4);
			if (len > z - off - HDR) {
				rc = TL_ECOMPRESS;
				break;
			}
			rc = cb(ud, t, d[off + 12], d + off + HDR, len);
			off += HDR + len;
		}
	}
	free(buf);
	ZSTD_freeDCtx(dctx);
	return rc;
}

void tl_retain_pin_stats(const struct tl_retain_pin *pin, struct tl_retain_pin_stats *ret_st)
{
	*ret_st = pin->st;
}

void tl_retain_unpin(struct tl_retain_pin *pin)
{
	if (!pin)
		return;
	(void)pin_close(pin);
	for (size_t i = 0; i < pin->n; i++)
		block_unref(pin->blocks[i]);
	free(pin->blocks);
	free(pin);
}
