/*
 * tests/fuzz/fuzz_decode.c - fuzz the record decoder (ingest/decode.c over ingest/json.cpp):
 * the input bytes are one unit, as a line or a cut-out record reaches tl_decoder_unit().
 *
 * Invariants (a failure traps):
 *  - tl_decoder_unit() returns 0 (bad input is never an error; -ENOMEM is not expected);
 *  - every record is counted once: the run's deltas of records equal those of events +
 *    malformed + skipped, and the events counted are the events appended;
 *  - every malformed report has a non-empty reason and raw bytes inside the unit;
 *  - every event has a kind in 1..4, a nonzero series key and raw bytes inside the unit;
 *  - an event depends on its own record only: the record's raw bytes decoded alone, once
 *    after poison_a and once after poison_b (records that fill every nested key set with
 *    different values), give the same event both times, and the event of the whole unit.
 *    This catches slots left over from earlier records, which ASan sees only when the
 *    buffer they point into happens to have been freed.
 * The decoder and its symbol table live across inputs, as in a real run, so state that
 * carries over between units (the symbol cache, the parsers' buffers) is fuzzed too; they
 * are made anew when the symbol table nears its cap, so names can still be interned.
 */
#include <stdlib.h>
#include <string.h>

#include <tripline/decode.h>
#include <tripline/symtab.h>

#include "fuzz.h"

#define MAX_SYMBOLS  (1u << 16)
#define MAX_ISOLATED 4 /* events per input decoded alone */

/*
 * Units whose records fill every nested key set: properties as an object, a response body
 * with error, choices and usage, ARM bodies with sku, model and properties. poison_a holds
 * values that set flags, poison_b other values.
 */
/* clang-format off */
#define POISON(v, code, refusal, model)                                                          \
	"[{\"category\":\"RequestResponse\",\"time\":\"2025-11-04T14:00:00Z\","                     \
	"\"resourceId\":\"/S/ACCOUNTS/P" v "\",\"properties\":{"                                     \
	"\"modelDeploymentName\":\"" v "\",\"requestTime\":1,\"responseTime\":\"" v "\","           \
	"\"streamType\":\"" v "\",\"modelName\":\"" v "\",\"modelVersion\":\"" v "\","              \
	"\"backendUrl\":\"/deployments/" v "/\",\"url\":\"/deployments/" v "/\","                   \
	"\"responseCode\":\"" v "\",\"backendResponseCode\":\"" v "\",\"totalTime\":\"" v "\","      \
	"\"deploymentName\":\"" v "\",\"promptTokens\":\"" v "\",\"completionTokens\":\"" v "\","   \
	"\"promptCachedTokens\":\"" v "\",\"sequenceNumber\":\"" v "\","                            \
	"\"entity\":\"/accounts/" v "/deployments/" v "\"}},"                                       \
	"{\"category\":\"GatewayLogs\",\"time\":\"2025-11-04T14:00:00Z\","                         \
	"\"resourceId\":\"/S/P" v "\",\"properties\":{\"url\":\"/deployments/" v "/\","                \
	"\"backendResponseBody\":{\"error\":{\"code\":" code "},\"choices\":[{\"finish_reason\":"    \
	code ",\"message\":{\"refusal\":" refusal "}}],\"usage\":{\"prompt_tokens\":1,"               \
	"\"completion_tokens\":2,\"prompt_tokens_details\":{\"cached_tokens\":3}},"                 \
	"\"model\":" model "}}},"                                                                 \
	"{\"category\":\"Administrative\",\"time\":\"2025-11-04T14:00:00Z\","                      \
	"\"operationName\":\"Microsoft.CognitiveServices/accounts/deployments/write\","             \
	"\"resultType\":\"Success\",\"resourceId\":\"/s/accounts/p" v "/deployments/p" v "\","       \
	"\"properties\":{\"requestbody\":{\"sku\":{\"name\":\"" v "\"},\"properties\":{\"model\":"    \
	"{\"name\":\"" v "\",\"version\":\"" v "\"},\"raiPolicyName\":\"" v "\"}}}}]"
static const char poison_a[] = POISON("a", "\"content_filter\"", "\"no\"", "\"model-a\"");
static const char poison_b[] = POISON("b", "null", "null", "null");
/* clang-format on */

struct unit_bounds {
	const char *b, *e; /* the unit being decoded */
	uint64_t n_malformed;
};

static struct tl_symtab *syms;
static struct tl_decoder *dec;
static struct tl_evbuf out, alone, scratch;
static struct unit_bounds cur;

static bool inside(const char *b, const char *e, const void *p, size_t n)
{
	const char *q = p;

	return q >= b && q <= e && n <= (size_t)(e - q);
}

static void on_malformed(void *ud, const struct tl_malformed *m)
{
	struct unit_bounds *u = ud;

	FUZZ_CHECK(m->reason != NULL && m->reason[0] != '\0');
	FUZZ_CHECK(m->raw != NULL && inside(u->b, u->e, m->raw, m->raw_len));
	FUZZ_CHECK(m->raw_len <= TL_MAX_RECORD);
	u->n_malformed++;
}

static void setup(void)
{
	int err = 0;

	tl_decoder_free(dec);
	tl_symtab_free(syms);
	syms = tl_symtab_new(MAX_SYMBOLS);
	if (!syms)
		abort();
	dec = tl_decoder_new(syms, on_malformed, &cur, &err);
	if (!dec)
		abort(); /* TL_ECPU: this machine cannot run the build */
}

/* A copy of @n bytes at @s followed by TL_UNIT_PADDING spaces; abort when out of memory. */
static char *padded(const void *s, size_t n)
{
	char *buf = malloc(n + TL_UNIT_PADDING);

	if (!buf)
		abort();
	if (n)
		memcpy(buf, s, n);
	memset(buf + n, ' ', TL_UNIT_PADDING);
	return buf;
}

/* Decode the @n bytes at @buf (padded) as one unit into @b (emptied first). */
static void decode(const char *buf, size_t n, struct tl_evbuf *b)
{
	const struct tl_unit u = { .data = buf, .len = n, .line = 1 };

	cur = (struct unit_bounds){ .b = buf, .e = buf + n };
	b->n = 0;
	FUZZ_CHECK(tl_decoder_unit(dec, &u, b) == 0);
}

static bool contains(const char *s, size_t n, const char *word)
{
	const size_t w = strlen(word);

	for (size_t i = 0; i + w <= n; i++)
		if (memcmp(s + i, word, w) == 0)
			return true;
	return false;
}

/* @a and @b are the same event, their raw references aside. */
static bool same_event(const struct tl_event *a, const struct tl_event *b)
{
	struct tl_event x, y;

	memcpy(&x, a, sizeof(x));
	memcpy(&y, b, sizeof(y));
	memset(&x.raw, 0, sizeof(x.raw));
	memset(&y.raw, 0, sizeof(y.raw));
	return memcmp(&x, &y, sizeof(x)) == 0;
}

/*
 * The record of @ev decoded alone gives @ev whatever was decoded before. A record holding a
 * "records" key is left out: alone, it would be read as an envelope.
 */
static void check_isolated(const struct tl_event *ev, const char *pa, const char *pb)
{
	const char *raw = (const char *)ev->raw.ptr;
	struct tl_event first;
	char *rec;

	if (contains(raw, ev->raw.len, "\"records\""))
		return;
	rec = padded(raw, ev->raw.len);
	decode(pa, sizeof(poison_a) - 1, &scratch);
	decode(rec, ev->raw.len, &alone);
	FUZZ_CHECK(alone.n == 1);
	memcpy(&first, &alone.ev[0], sizeof(first));
	decode(pb, sizeof(poison_b) - 1, &scratch);
	decode(rec, ev->raw.len, &alone);
	FUZZ_CHECK(alone.n == 1);
	FUZZ_CHECK(same_event(&first, &alone.ev[0]));
	FUZZ_CHECK(same_event(&first, ev));
	free(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *pa, *pb;
	const struct tl_decode_stats *st;
	struct tl_decode_stats before;
	char *buf;

	if (!dec || tl_symtab_count(syms) > MAX_SYMBOLS - 1024)
		setup();
	if (!pa) {
		pa = padded(poison_a, sizeof(poison_a) - 1);
		pb = padded(poison_b, sizeof(poison_b) - 1);
	}
	buf = padded(data, size);
	before = *tl_decoder_stats(dec);
	decode(buf, size, &out);
	st = tl_decoder_stats(dec);

	const uint64_t records = st->records - before.records;
	const uint64_t events = st->events - before.events;
	const uint64_t malformed = st->malformed - before.malformed;
	const uint64_t skipped = st->skipped - before.skipped;

	FUZZ_CHECK(records == events + malformed + skipped);
	FUZZ_CHECK(events == out.n);
	FUZZ_CHECK(malformed == cur.n_malformed);
	for (size_t i = 0; i < out.n; i++) {
		const struct tl_event *ev = &out.ev[i];

		FUZZ_CHECK(ev->kind >= TL_EV_REQUEST && ev->kind <= TL_EV_CHANGE);
		FUZZ_CHECK(ev->series != 0);
		FUZZ_CHECK(ev->raw.ptr != NULL && inside(cur.b, cur.e, ev->raw.ptr, ev->raw.len));
		FUZZ_CHECK(ev->raw.offset == (uint64_t)((const char *)ev->raw.ptr - buf));
	}
	for (size_t i = 0; i < out.n && i < MAX_ISOLATED; i++)
		check_isolated(&out.ev[i], pa, pb);
	free(buf);
	return 0;
}
