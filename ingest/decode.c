/*
 * ingest/decode.c - Azure log records to struct tl_event.
 *
 * One pass per record: tl_json_visit() fills the slots of one key set that is the union of
 * the keys of every category, then the category picks the decoder below. `properties` comes
 * as an object or as a JSON string (both appear in real archives); the string form is read by
 * tl_embedded_extract() when it is a flat object without escapes (the common case) and by
 * simdjson otherwise.
 *
 * Quirks handled here, each with a test in tests/test_decode.c:
 *  - durationMs negative or absent: latency from properties requestTime/responseTime ticks;
 *  - numbers as strings ("16", "200");
 *  - 1-7 fractional digits, with or without Z;
 *  - resource IDs in any case: resource is upper-cased, deployments compare case-insensitively;
 *  - APIM deployments from the /deployments/<name>/ path, guardrail and refusal from bodies;
 *  - model names with a date suffix (gpt-4o-2024-11-20) split into model and version.
 * Thread: the owner of the decoder.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/decode.h>
#include <tripline/hash.h>
#include <tripline/time.h>

#include "ingest_int.h"
#include "json.h"

_Static_assert(TL_UNIT_PADDING == TL_JSON_PADDING, "units are parsed in place: same padding");

/* Slots: top-level keys, then properties, then nested bodies. */
enum {
	T_TIME,
	T_CATEGORY,
	T_RESOURCE_ID,
	T_OPERATION,
	T_CORRELATION,
	T_DURATION,
	T_RESULT_SIG,
	T_RESULT_TYPE,
	T_PROPS,
	T_METRIC,
	T_TOTAL,
	T_COUNT,
	N_RESOURCE,
	N_DEPLOYMENT,
	N_MODEL,
	N_MODEL_VERSION,
	N_PROMPT_VERSION,
	N_REQUEST_ID,
	N_LATENCY,
	N_STATUS,
	N_TOK_IN,
	N_TOK_OUT,
	N_TOK_CACHED,
	N_GUARDRAIL,
	N_REFUSAL,
	N_OPERATION,
	N_STREAM,
	P_REQ_TIME,
	P_RESP_TIME,
	P_STREAM_TYPE,
	P_DEPLOYMENT,
	P_MODEL,
	P_MODEL_VERSION,
	P_BACKEND_URL,
	P_URL,
	P_RESPONSE_CODE,
	P_BACKEND_CODE,
	P_TOTAL_TIME,
	P_BODY,
	P_LLM_DEPLOYMENT,
	P_PROMPT_TOKENS,
	P_COMPLETION_TOKENS,
	P_CACHED_TOKENS,
	P_SEQUENCE,
	P_ENTITY,
	P_REQUEST_BODY,
	P_RESPONSE_BODY,
	A_SKU,
	A_SKU_NAME,
	A_PROPS,
	A_MODEL,
	A_MODEL_NAME,
	A_MODEL_VERSION,
	A_RAI,
	B_ERROR,
	B_ERROR_CODE,
	B_CHOICES,
	B_USAGE,
	B_PROMPT,
	B_COMPLETION,
	B_PTD,
	B_CACHED,
	B_MODEL,
	C_FINISH,
	C_MESSAGE,
	C_REFUSAL,
	SLOT_COUNT
};

static const struct tl_jkey_spec sku_spec[] = { { "name", A_SKU_NAME, 0, NULL } };
static const struct tl_jkey_spec model_spec[] = { { "name", A_MODEL_NAME, 0, NULL },
						  { "version", A_MODEL_VERSION, 0, NULL } };
static const struct tl_jkey_spec usage_details_spec[] = { { "cached_tokens", B_CACHED, 0, NULL } };
static const struct tl_jkey_spec error_spec[] = { { "code", B_ERROR_CODE, 0, NULL } };
static const struct tl_jkey_spec message_spec[] = { { "refusal", C_REFUSAL, 0, NULL } };

struct keysets {
	struct tl_jkeys top, props, arm, arm_props, sku, model, body, usage, usage_details, error,
	    choice, message;
};

#define TL_CACHE_TEXT 64 /* Azure resource and deployment names go to 64 */

/* A name as it appeared in a record (its text is in cache_text), and its symbol (upper-cased
 * or not). */
struct cache_entry {
	uint64_t hash;
	uint32_t sym;
	uint32_t len;
};

#define TL_CACHE_SIZE 4096
#define TL_NAME_MAX   256
#define TL_MEMO_SIZE  16

/*
 * A name interned lately, in a slot chosen by the field and the length (a field's name is
 * most often the one it had in the previous record). A hit is a compare, no hash; the text
 * and @upper alone decide the symbol, so slots shared by fields are only slower.
 */
struct memo {
	uint32_t len, sym;
	bool upper;
	char text[TL_CACHE_TEXT];
};

struct tl_decoder {
	/* first, so that with a page-aligned allocation each text is one cache line */
	char cache_text[TL_CACHE_SIZE][TL_CACHE_TEXT];
	struct tl_json *js;
	struct tl_symtab *syms;
	struct tl_time_memo time_memo;
	tl_malformed_fn on_malformed;
	void *ud;
	struct keysets ks;
	struct tl_jval vals[SLOT_COUNT];
	struct tl_decode_stats stats;
	uint32_t sym_account;  /* "*" */
	uint64_t fold_account; /* its tl_fold_hash() */
	uint64_t fold_none;    /* tl_fold_hash() of no name */
	/* the unit being decoded */
	const struct tl_unit *unit;
	struct tl_evbuf *out;
	const char *line_at; /* a position in the unit reached by line_of() */
	uint64_t line;       /* its line */
	/* choice walk results */
	bool choice_filtered, choice_refusal;
	char why[320];
	struct cache_entry cache[TL_CACHE_SIZE];
	struct memo memo[TL_MEMO_SIZE];
};

/* ---- small helpers ---------------------------------------------------------------------- */

static int bad(struct tl_decoder *d, const char *fmt, ...) TL_PRINTF(2, 3);

static int bad(struct tl_decoder *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	return TL_EVALUE;
}

static const char *type_name(uint8_t t)
{
	static const char *const names[] = { "absent",    "null",     "a boolean",
					     "a number",  "a number", "a string",
					     "an object", "an array", "a number" };

	return t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

/* A string literal and its length, for the name tables below. */
#define LIT(s) s, sizeof(s) - 1

/* Whether @v is the string @lit of @n bytes. */
static bool str_eq_n(const struct tl_jval *v, const char *lit, size_t n)
{
	return v->type == TL_JT_STRING && v->n == n && memcmp(v->s, lit, n) == 0;
}

static bool str_eq(const struct tl_jval *v, const char *lit)
{
	return str_eq_n(v, lit, strlen(lit));
}

/* Whether the @n bytes at @s are @lit (of @ln bytes), ASCII case aside. */
static bool str_ieq(const char *s, size_t n, const char *lit, size_t ln)
{
	if (ln != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char a = (unsigned char)s[i], b = (unsigned char)lit[i];

		if (a >= 'A' && a <= 'Z')
			a = (unsigned char)(a + 32);
		if (b >= 'A' && b <= 'Z')
			b = (unsigned char)(b + 32);
		if (a != b)
			return false;
	}
	return true;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Whether the @n bytes at @s are -?D+(.D+)?([eE][+-]?D+)? with D a decimal digit. */
static bool is_decimal(const char *s, size_t n)
{
	size_t i = 0, d;

	if (i < n && s[i] == '-')
		i++;
	for (d = i; i < n && is_digit(s[i]); i++)
		;
	if (i == d)
		return false;
	if (i < n && s[i] == '.') {
		for (d = ++i; i < n && is_digit(s[i]); i++)
			;
		if (i == d)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = i; i < n && is_digit(s[i]); i++)
			;
		if (i == d)
			return false;
	}
	return i == n;
}

/* A number given as a JSON number or as a numeric string ("16", "200", "1.5"). */
static int get_num(struct tl_decoder *d, const struct tl_jval *v, const char *key, double *ret)
{
	switch (v->type) {
	case TL_JT_INT:
		*ret = (double)v->i;
		return 0;
	case TL_JT_DOUBLE:
		*ret = v->d;
		return 0;
	case TL_JT_STRING: {
		char buf[64];
		char *end;
		double num;

		if (v->n > 0 && v->n <= 15) {
			/* the common case, "200" or "16": digits only */
			int64_t x = 0;
			size_t i = 0;

			while (i < v->n && v->s[i] >= '0' && v->s[i] <= '9')
				x = x * 10 + (v->s[i++] - '0');
			if (i == v->n) {
				*ret = (double)x;
				return 0;
			}
		}
		/* strict: optional minus, digits, optional fraction/exponent, nothing else (no
		 * hex, inf or nan, which strtod would take); out of range is not a number */
		if (v->n >= sizeof(buf) || !is_decimal(v->s, v->n))
			break;
		memcpy(buf, v->s, v->n);
		buf[v->n] = '\0';
		num = strtod(buf, &end);
		if (*end != '\0' || !isfinite(num))
			break;
		*ret = num;
		return 0;
	}
	default:
		break;
	}
	if (v->type == TL_JT_STRING)
		return bad(d, "field '%s': not a number: \"%.*s\"", key,
			   (int)(v->n > 40 ? 40 : v->n), v->s);
	return bad(d, "field '%s': expected a number, got %s", key, type_name(v->type));
}

/*
 * .NET ticks (about 6.4e17) do not fit a double exactly: read them as integers, from a JSON
 * integer or a string of digits.
 */
static int get_ticks(struct tl_decoder *d, const struct tl_jval *v, const char *key, int64_t *ret)
{
	if (v->type == TL_JT_INT) {
		*ret = v->i;
		return 0;
	}
	if (v->type == TL_JT_STRING && v->n > 0 && v->n <= 18) {
		int64_t x = 0;

		for (size_t i = 0; i < v->n; i++) {
			if (v->s[i] < '0' || v->s[i] > '9')
				return bad(d, "field '%s': not a tick count", key);
			x = x * 10 + (v->s[i] - '0');
		}
		*ret = x;
		return 0;
	}
	return bad(d, "field '%s': not a tick count", key);
}

/* An optional count (tokens): absent is fine, otherwise a non-negative integer < 2^32. */
static int get_count(struct tl_decoder *d, const struct tl_jval *v, const char *key, uint32_t *ret,
		     bool *ret_present)
{
	double x = 0;
	int r;

	*ret_present = false;
	if (v->type == TL_JT_ABSENT || v->type == TL_JT_NULL)
		return 0;
	if ((r = get_num(d, v, key, &x)) < 0)
		return r;
	if (!(x >= 0 && x < 4294967296.0) || x != (double)(uint32_t)x)
		return bad(d, "field '%s': not a token count: %g", key, x);
	*ret = (uint32_t)x;
	*ret_present = true;
	return 0;
}

/* An HTTP status given as a number or a string; absent leaves *ret at 0. */
static int get_status(struct tl_decoder *d, const struct tl_jval *v, const char *key, uint16_t *ret)
{
	double x = 0;
	int r;

	if (v->type == TL_JT_ABSENT || v->type == TL_JT_NULL)
		return 0;
	if ((r = get_num(d, v, key, &x)) < 0)
		return r;
	if (!(x >= 100 && x <= 999) || x != (double)(int)x)
		return bad(d, "field '%s': not an HTTP status: %g", key, x);
	*ret = (uint16_t)x;
	return 0;
}

static int get_time(struct tl_decoder *d, const struct tl_jval *v, int64_t *ret)
{
	if (v->type == TL_JT_ABSENT)
		return bad(d, "missing field 'time'");
	if (v->type != TL_JT_STRING)
		return bad(d, "field 'time': expected a string, got %s", type_name(v->type));
	if (tl_time_parse_memo(&d->time_memo, v->s, v->n, ret) < 0)
		return bad(d, "field 'time': not a timestamp: \"%.*s\"",
			   (int)(v->n > 40 ? 40 : v->n), v->s);
	return 0;
}

static int need_string(struct tl_decoder *d, const struct tl_jval *v, const char *key)
{
	if (v->type == TL_JT_ABSENT)
		return bad(d, "missing field '%s'", key);
	if (v->type != TL_JT_STRING)
		return bad(d, "field '%s': expected a string, got %s", key, type_name(v->type));
	if (v->n == 0)
		return bad(d, "field '%s': empty", key);
	return 0;
}

/* Optional string: absent or null is fine, another type is not. */
static int opt_string(struct tl_decoder *d, const struct tl_jval *v, const char *key)
{
	if (v->type == TL_JT_ABSENT || v->type == TL_JT_NULL || v->type == TL_JT_STRING)
		return 0;
	return bad(d, "field '%s': expected a string, got %s", key, type_name(v->type));
}

/* ---- names ------------------------------------------------------------------------------ */

/*
 * The symbol of a name; @upper interns its ASCII upper case. A direct-mapped cache of the
 * names as they appear in records makes the common case a hash and one compare.
 */
static void memo_set(struct memo *mo, const char *s, size_t n, bool upper, uint32_t sym)
{
	if (n > TL_CACHE_TEXT)
		return;
	mo->len = (uint32_t)n;
	mo->upper = upper;
	mo->sym = sym;
	memcpy(mo->text, s, n);
}

static int intern(struct tl_decoder *d, const char *s, size_t n, bool upper, const char *key,
		  uint32_t *ret)
{
	if (n == 0) {
		*ret = 0;
		return 0;
	}
	if (n > TL_NAME_MAX)
		return bad(d, "field '%s': longer than %d bytes", key, TL_NAME_MAX);

	struct memo *mo = &d->memo[(((uintptr_t)key >> 4) ^ n) % TL_MEMO_SIZE];

	if (mo->len == n && mo->upper == upper && memcmp(mo->text, s, n) == 0) {
		*ret = mo->sym;
		return 0;
	}

	const uint64_t h = tl_hash64(s, n, TL_HASH_SEED + upper);
	const size_t slot = h & (TL_CACHE_SIZE - 1);
	struct cache_entry *c = &d->cache[slot];

	if (c->hash == h && c->len == n && memcmp(d->cache_text[slot], s, n) == 0) {
		*ret = c->sym;
		memo_set(mo, s, n, upper, *ret);
		return 0;
	}
	char buf[TL_NAME_MAX];
	const char *src = s;
	int r;

	if (upper) {
		for (size_t i = 0; i < n; i++)
			buf[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 32) : s[i];
		src = buf;
	}
	if ((r = tl_symtab_intern(d->syms, src, n, ret)) < 0)
		return bad(d, "field '%s': cannot keep the name: %s", key, tl_strerror(r));
	if (n <= TL_CACHE_TEXT) {
		c->hash = h;
		c->len = (uint32_t)n;
		c->sym = *ret;
		memcpy(d->cache_text[slot], s, n);
		memo_set(mo, s, n, upper, *ret);
	}
	return 0;
}

/* The last segment of a resource ID: /SUBSCRIPTIONS/.../ACCOUNTS/<NAME>. */
static void last_segment(const char *s, size_t n, const char **ret, size_t *ret_n)
{
	while (n > 0 && s[n - 1] == '/')
		n--;
	size_t i = n;

	while (i > 0 && s[i - 1] != '/')
		i--;
	*ret = s + i;
	*ret_n = n - i;
}

/* The segment after /<name>/ in a resource ID or URL path (case-insensitive), or NULL. */
static const char *segment_after(const char *s, size_t n, const char *name, size_t *ret_n)
{
	const size_t ln = strlen(name);

	for (size_t i = 0; i + ln + 2 <= n; i++) {
		if (s[i] != '/' || s[i + ln + 1] != '/' || !str_ieq(s + i + 1, ln, name, ln))
			continue;
		size_t b = i + ln + 2, e = b;

		while (e < n && s[e] != '/' && s[e] != '?' && s[e] != '#')
			e++;
		if (e > b) {
			*ret_n = e - b;
			return s + b;
		}
	}
	return NULL;
}

static int set_resource(struct tl_decoder *d, struct tl_event *ev, uint64_t *ret_fold)
{
	const struct tl_jval *v = &d->vals[T_RESOURCE_ID];
	const char *seg;
	size_t n;
	int r;

	if ((r = need_string(d, v, "resourceId")) < 0)
		return r;
	last_segment(v->s, v->n, &seg, &n);
	if (n == 0)
		return bad(d, "field 'resourceId': no resource name in \"%.*s\"",
			   (int)(v->n > 80 ? 80 : v->n), v->s);
	if ((r = intern(d, seg, n, true, "resourceId", &ev->resource)) < 0)
		return r;
	*ret_fold = tl_symtab_fold_hash(d->syms, ev->resource);
	return 0;
}

static int set_deployment(struct tl_decoder *d, struct tl_event *ev, const char *s, size_t n,
			  const char *key, uint64_t resource_fold)
{
	int r;

	if ((r = intern(d, s, n, false, key, &ev->deployment)) < 0)
		return r;
	ev->series = tl_series_key(resource_fold, tl_symtab_fold_hash(d->syms, ev->deployment));
	return 0;
}

/* A model name with a date suffix (gpt-4o-2024-11-20) is the base model at that version. */
static int set_model(struct tl_decoder *d, struct tl_event *ev, const struct tl_jval *model,
		     const struct tl_jval *version, const char *key)
{
	const bool has_version = version && version->type == TL_JT_STRING && version->n > 0;
	int r;

	if (has_version &&
	    (r = intern(d, version->s, version->n, false, key, &ev->model_version)) < 0)
		return r;
	if (model->type != TL_JT_STRING || model->n == 0)
		return 0;
	size_t n = model->n;
	const char *s = model->s;

	if (!has_version && n > 11) {
		const char *x = s + n - 11;

		if (x[0] == '-' && x[5] == '-' && x[8] == '-' && x[1] >= '0' && x[1] <= '9' &&
		    x[6] >= '0' && x[6] <= '9' && x[9] >= '0' && x[9] <= '9') {
			if ((r = intern(d, x + 1, 10, false, key, &ev->model_version)) < 0)
				return r;
			n -= 11;
		}
	}
	return intern(d, s, n, false, key, &ev->model);
}

/* An optional name: interned when @v is a string, else left 0. */
static int intern_opt(struct tl_decoder *d, const struct tl_jval *v, const char *key, uint32_t *ret)
{
	if (v->type != TL_JT_STRING)
		return 0;
	return intern(d, v->s, v->n, false, key, ret);
}

/* The account-level series of the resource whose fold hash is @resource_fold. */
static void set_account(struct tl_decoder *d, struct tl_event *ev, uint64_t resource_fold)
{
	ev->deployment = d->sym_account;
	ev->series = tl_series_key(resource_fold, d->fold_account);
}

/* A duration in ms (@v, named @key) as the latency; absent, null or negative is unknown. */
static int read_duration(struct tl_decoder *d, struct tl_event *ev, const struct tl_jval *v,
			 const char *key)
{
	double ms;
	int r;

	if (v->type == TL_JT_ABSENT || v->type == TL_JT_NULL)
		return 0;
	if ((r = get_num(d, v, key, &ms)) < 0)
		return r;
	if (ms >= 0) {
		ev->u.req.latency_ms = (float)ms;
		ev->flags |= TL_EVF_LATENCY;
	}
	return 0;
}

/*
 * Optional token counts from the slots @in, @out and @cached (named @key[0..2]); in or out
 * marks the event as carrying tokens.
 */
static int read_tokens(struct tl_decoder *d, struct tl_event *ev, int in, int out, int cached,
		       const char *const key[3])
{
	const struct tl_jval *v = d->vals;
	bool present;
	uint32_t n;
	int r;

	if ((r = get_count(d, &v[in], key[0], &n, &present)) < 0)
		return r;
	if (present) {
		ev->u.req.tokens_in = n;
		ev->flags |= TL_EVF_TOKENS;
	}
	if ((r = get_count(d, &v[out], key[1], &n, &present)) < 0)
		return r;
	if (present) {
		ev->u.req.tokens_out = n;
		ev->flags |= TL_EVF_TOKENS;
	}
	if ((r = get_count(d, &v[cached], key[2], &n, &present)) < 0)
		return r;
	if (present)
		ev->u.req.tokens_cached = n;
	return 0;
}

/* ---- events ----------------------------------------------------------------------------- */

int tl_evbuf_reserve(struct tl_evbuf *b, size_t n)
{
	if (b->cap - b->n >= n)
		return 0;
	size_t cap = b->cap ? b->cap : 256;

	while (cap - b->n < n)
		cap *= 2;
	struct tl_event *ev = realloc(b->ev, cap * sizeof(*ev));

	if (!ev)
		return -ENOMEM;
	b->ev = ev;
	b->cap = cap;
	return 0;
}

void tl_evbuf_fini(struct tl_evbuf *b)
{
	free(b->ev);
	*b = (struct tl_evbuf){ 0 };
}

/* The request a token count belongs to, whichever record reports it. */
static uint64_t usage_key(const struct tl_event *ev, const struct tl_jval *corr)
{
	if (!(ev->flags & TL_EVF_TOKENS) || corr->type != TL_JT_STRING || corr->n == 0)
		return 0;
	return tl_hash_combine(ev->series, tl_hash64(corr->s, corr->n, TL_HASH_SEED ^ 0x75)) | 1;
}

static uint64_t fingerprint(uint64_t kind, const struct tl_jval *id, int64_t time_ns,
			    uint64_t extra)
{
	if (id->type != TL_JT_STRING || id->n == 0)
		return 0;
	uint64_t h = tl_hash64(id->s, id->n, TL_HASH_SEED ^ kind);

	h = tl_hash_combine(h, (uint64_t)time_ns);
	h = tl_hash_combine(h, extra);
	return h ? h : 1;
}

/* ---- RequestResponse -------------------------------------------------------------------- */

/*
 * Read `properties` when it came as a string, into the P_* slots.
 * Return: the parser level free for JSON held in its strings (1, or 2 after a string), or
 * TL_EVALUE.
 */
static int read_props(struct tl_decoder *d)
{
	const struct tl_jval *p = &d->vals[T_PROPS];

	if (p->type == TL_JT_OBJECT)
		return 1;
	if (p->type != TL_JT_STRING)
		return p->type == TL_JT_ABSENT ? bad(d, "missing field 'properties'")
					       : bad(d,
						     "field 'properties': expected an object or a "
						     "JSON string, got %s",
						     type_name(p->type));
	if (tl_embedded_extract(p->s, p->n, &d->ks.props, d->vals))
		return 2;
	int r = tl_json_extract(d->js, 1, p->s, p->n, p->escaped, &d->ks.props, d->vals);

	if (r == TL_ETYPE)
		return bad(d, "field 'properties': the string does not hold a JSON object");
	if (r < 0)
		return bad(d, "field 'properties': the string does not hold valid JSON");
	return 2;
}

static int dec_request_response(struct tl_decoder *d, struct tl_event *ev)
{
	const struct tl_jval *v = d->vals;
	uint64_t rfold;
	int r;

	ev->kind = TL_EV_REQUEST;
	ev->origin = TL_ORIGIN_AOAI_REQUEST;
	if ((r = read_props(d)) < 0 || (r = set_resource(d, ev, &rfold)) < 0)
		return r;
	if ((r = need_string(d, &v[P_DEPLOYMENT], "properties.modelDeploymentName")) < 0 ||
	    (r = set_deployment(d, ev, v[P_DEPLOYMENT].s, v[P_DEPLOYMENT].n,
				"properties.modelDeploymentName", rfold)) < 0)
		return r;
	if ((r = opt_string(d, &v[P_MODEL], "properties.modelName")) < 0 ||
	    (r = opt_string(d, &v[P_MODEL_VERSION], "properties.modelVersion")) < 0 ||
	    (r = set_model(d, ev, &v[P_MODEL], &v[P_MODEL_VERSION], "properties.modelName")) < 0)
		return r;
	if ((r = intern_opt(d, &v[T_OPERATION], "operationName", &ev->operation)) < 0)
		return r;
	if (str_eq(&v[P_STREAM_TYPE], "Streaming"))
		ev->flags |= TL_EVF_STREAMING;
	if ((r = get_status(d, &v[T_RESULT_SIG], "resultSignature", &ev->status)) < 0)
		return r;
	/* durationMs can be negative or missing: the service has sent -1021; then the ticks
	 * (100 ns since year 1) of request and response give the latency */
	if ((r = read_duration(d, ev, &v[T_DURATION], "durationMs")) < 0)
		return r;
	if (!(ev->flags & TL_EVF_LATENCY) && v[P_REQ_TIME].type != TL_JT_ABSENT &&
	    v[P_RESP_TIME].type != TL_JT_ABSENT) {
		int64_t a, b;

		if ((r = get_ticks(d, &v[P_REQ_TIME], "properties.requestTime", &a)) < 0 ||
		    (r = get_ticks(d, &v[P_RESP_TIME], "properties.responseTime", &b)) < 0)
			return r;
		if (b >= a && a > 0) {
			ev->u.req.latency_ms = (float)((double)(b - a) / 10000.0);
			ev->flags |= TL_EVF_LATENCY | TL_EVF_LATENCY_FIXED;
		}
	}
	ev->fingerprint = fingerprint(TL_ORIGIN_AOAI_REQUEST, &v[T_CORRELATION], ev->time_ns, 0);
	return 0;
}

/* ---- AllMetrics ------------------------------------------------------------------------- */

static const struct {
	const char *name;
	size_t len;
	enum tl_metric metric;
} metric_names[] = {
	{ LIT("AzureOpenAIRequests"), TL_METRIC_REQUESTS },
	{ LIT("ProcessedPromptTokens"), TL_METRIC_PROMPT_TOKENS },
	{ LIT("GeneratedTokens"), TL_METRIC_GENERATED_TOKENS },
	{ LIT("TokenTransaction"), TL_METRIC_TOKEN_TRANSACTION },
	{ LIT("ActiveTokens"), TL_METRIC_ACTIVE_TOKENS },
	{ LIT("RAIRejectedRequests"), TL_METRIC_RAI_REJECTED },
	{ LIT("RAIHarmfulRequests"), TL_METRIC_RAI_HARMFUL },
	{ LIT("RAITotalRequests"), TL_METRIC_RAI_TOTAL },
	{ LIT("AzureOpenAITimeToResponse"), TL_METRIC_TIME_TO_RESPONSE },
	{ LIT("AzureOpenAITTLTInMS"), TL_METRIC_TIME_TO_LAST_BYTE },
	{ LIT("AzureOpenAINormalizedTTFTInMS"), TL_METRIC_TIME_TO_FIRST_BYTE },
};

/* Return: 0, 1 when the metric is not one tripline reads, or TL_EVALUE. */
static int dec_metric(struct tl_decoder *d, struct tl_event *ev)
{
	const struct tl_jval *v = d->vals;
	uint64_t rfold;
	int r;

	if ((r = need_string(d, &v[T_METRIC], "metricName")) < 0)
		return r;
	ev->kind = TL_EV_METRIC;
	ev->origin = TL_ORIGIN_AOAI_METRIC;
	for (size_t i = 0; i < sizeof(metric_names) / sizeof(metric_names[0]); i++) {
		if (str_eq_n(&v[T_METRIC], metric_names[i].name, metric_names[i].len)) {
			ev->u.metric.metric = (uint16_t)metric_names[i].metric;
			break;
		}
	}
	if (!ev->u.metric.metric)
		return 1;
	if ((r = set_resource(d, ev, &rfold)) < 0)
		return r;
	set_account(d, ev, rfold);
	if (v[T_TOTAL].type == TL_JT_ABSENT)
		return bad(d, "missing field 'total'");
	if ((r = get_num(d, &v[T_TOTAL], "total", &ev->u.metric.total)) < 0)
		return r;
	if (v[T_COUNT].type != TL_JT_ABSENT &&
	    (r = get_num(d, &v[T_COUNT], "count", &ev->u.metric.count)) < 0)
		return r;
	/* metric rows have no correlation id: the row is identified by its metric, resource and
	 * time */
	ev->fingerprint =
	    tl_hash_combine(tl_hash_combine(rfold, ev->u.metric.metric), (uint64_t)ev->time_ns) | 1;
	return 0;
}

/* ---- APIM GatewayLogs ------------------------------------------------------------------- */

static int on_choice(void *ud, const struct tl_jrec *rec)
{
	struct tl_decoder *d = ud;
	const struct tl_jval *v = rec->vals;

	if (rec->not_object)
		return 0;
	if (str_eq(&v[C_FINISH], "content_filter"))
		d->choice_filtered = true;
	if (v[C_MESSAGE].type == TL_JT_OBJECT && v[C_REFUSAL].type == TL_JT_STRING &&
	    v[C_REFUSAL].n > 0)
		d->choice_refusal = true;
	return 0;
}

/*
 * Read one response body object (already extracted into the B_* slots, at @level): a
 * content-filter error or finish_reason is a guardrail failure, a message refusal is a
 * refusal, usage gives tokens.
 */
static void read_body_slots(struct tl_decoder *d, struct tl_event *ev, int level)
{
	const struct tl_jval *v = d->vals;
	bool present;
	uint32_t n;

	ev->flags |= TL_EVF_GUARDRAIL_CHECKED | TL_EVF_REFUSAL_CHECKED;
	if (v[B_ERROR].type == TL_JT_OBJECT && str_eq(&v[B_ERROR_CODE], "content_filter"))
		ev->flags |= TL_EVF_GUARDRAIL_FAILED;
	if (v[B_CHOICES].type == TL_JT_ARRAY) {
		d->choice_filtered = d->choice_refusal = false;
		if (tl_json_each(d->js, level + 1, v[B_CHOICES].s, v[B_CHOICES].n, &d->ks.choice,
				 d->vals, on_choice, d) == 0) {
			if (d->choice_filtered)
				ev->flags |= TL_EVF_GUARDRAIL_FAILED;
			if (d->choice_refusal)
				ev->flags |= TL_EVF_REFUSAL;
		}
	}
	if (v[B_USAGE].type == TL_JT_OBJECT) {
		if (get_count(d, &v[B_PROMPT], "usage.prompt_tokens", &n, &present) == 0 &&
		    present) {
			ev->u.req.tokens_in = n;
			ev->flags |= TL_EVF_TOKENS;
		}
		if (get_count(d, &v[B_COMPLETION], "usage.completion_tokens", &n, &present) == 0 &&
		    present) {
			ev->u.req.tokens_out = n;
			ev->flags |= TL_EVF_TOKENS;
		}
		if (v[B_PTD].type == TL_JT_OBJECT &&
		    get_count(d, &v[B_CACHED], "usage.prompt_tokens_details.cached_tokens", &n,
			      &present) == 0 &&
		    present)
			ev->u.req.tokens_cached = n;
	}
	if (!ev->model && v[B_MODEL].type == TL_JT_STRING)
		(void)set_model(d, ev, &v[B_MODEL], NULL, "backendResponseBody.model");
}

/*
 * backendResponseBody: a JSON response, or a server-sent event stream ("data: {...}" lines)
 * for streamed completions. Body logging is often cut at 8 KiB, so an unreadable body is
 * counted, not malformed: the request is real, only its guardrail state is unknown.
 */
static void read_body(struct tl_decoder *d, struct tl_event *ev, int level)
{
	const struct tl_jval *b = &d->vals[P_BODY];
	size_t i = 0;

	if (b->type == TL_JT_ABSENT || b->type == TL_JT_NULL)
		return;
	if (b->type == TL_JT_OBJECT) {
		read_body_slots(d, ev, level - 1);
		return;
	}
	if (b->type != TL_JT_STRING)
		goto out_unreadable;
	while (i < b->n && (b->s[i] == ' ' || b->s[i] == '\t'))
		i++;
	if (i < b->n && b->s[i] == '{') {
		if (tl_json_extract(d->js, level, b->s, b->n, b->escaped, &d->ks.body, d->vals) < 0)
			goto out_unreadable;
		read_body_slots(d, ev, level);
		return;
	}
	if (b->n - i >= 5 && memcmp(b->s + i, "data:", 5) == 0 && level + 2 <= TL_JSON_MAX_LEVEL) {
		const char *s;
		size_t n;
		uint16_t flags = 0;
		bool any = false;

		if (tl_json_unescape(d->js, level, b->s, b->n, b->escaped, &s, &n) < 0)
			goto out_unreadable;
		for (size_t p = 0; p < n;) {
			const char *nl = memchr(s + p, '\n', n - p);
			size_t e = nl ? (size_t)(nl - s) : n;

			if (e - p > 5 && memcmp(s + p, "data:", 5) == 0) {
				size_t c = p + 5;

				while (c < e && s[c] == ' ')
					c++;
				if (e - c > 0 && s[c] == '{' &&
				    tl_json_extract(d->js, level + 1, s + c, e - c, false,
						    &d->ks.body, d->vals) == 0) {
					struct tl_event tmp = *ev;

					read_body_slots(d, &tmp, level + 1);
					flags |= tmp.flags;
					if (tmp.flags & TL_EVF_TOKENS)
						ev->u.req = tmp.u.req;
					if (!ev->model)
						ev->model = tmp.model,
						ev->model_version = tmp.model_version;
					any = true;
				}
			}
			p = e + 1;
		}
		if (!any)
			goto out_unreadable;
		ev->flags |= flags;
		return;
	}
out_unreadable:
	d->stats.bodies_unreadable++;
}

/* Return: 0, 1 when the call is not to a model deployment, or TL_EVALUE. */
static int dec_gateway(struct tl_decoder *d, struct tl_event *ev)
{
	const struct tl_jval *v = d->vals;
	const char *dep = NULL;
	size_t n = 0;
	uint64_t rfold;
	int r, level;

	ev->kind = TL_EV_REQUEST;
	ev->origin = TL_ORIGIN_APIM_GATEWAY;
	if ((level = read_props(d)) < 0)
		return level;
	if ((r = opt_string(d, &v[P_BACKEND_URL], "properties.backendUrl")) < 0 ||
	    (r = opt_string(d, &v[P_URL], "properties.url")) < 0)
		return r;
	if (v[P_BACKEND_URL].type == TL_JT_STRING)
		dep = segment_after(v[P_BACKEND_URL].s, v[P_BACKEND_URL].n, "deployments", &n);
	if (!dep && v[P_URL].type == TL_JT_STRING)
		dep = segment_after(v[P_URL].s, v[P_URL].n, "deployments", &n);
	if (!dep) {
		if (v[P_BACKEND_URL].type != TL_JT_STRING && v[P_URL].type != TL_JT_STRING)
			return bad(d, "missing field 'properties.backendUrl' and 'properties.url'");
		return 1; /* an API call that is not to a model deployment */
	}
	if ((r = set_resource(d, ev, &rfold)) < 0 ||
	    (r = set_deployment(d, ev, dep, n, "properties.backendUrl", rfold)) < 0)
		return r;
	if ((r = get_status(d, &v[P_RESPONSE_CODE], "properties.responseCode", &ev->status)) < 0)
		return r;
	if (!ev->status && (r = get_status(d, &v[P_BACKEND_CODE], "properties.backendResponseCode",
					   &ev->status)) < 0)
		return r;
	const struct tl_jval *dur =
	    v[T_DURATION].type != TL_JT_ABSENT ? &v[T_DURATION] : &v[P_TOTAL_TIME];

	if ((r = read_duration(d, ev, dur, "durationMs")) < 0 ||
	    (r = intern_opt(d, &v[T_OPERATION], "operationName", &ev->operation)) < 0)
		return r;
	read_body(d, ev, level);
	ev->fingerprint = fingerprint(TL_ORIGIN_APIM_GATEWAY, &v[T_CORRELATION], ev->time_ns, 0);
	ev->usage_key = usage_key(ev, &v[T_CORRELATION]);
	return 0;
}

/* ---- APIM GatewayLlmLogs ---------------------------------------------------------------- */

static int dec_llm(struct tl_decoder *d, struct tl_event *ev)
{
	const struct tl_jval *v = d->vals;
	static const char *const tokens[] = { "properties.promptTokens",
					      "properties.completionTokens",
					      "properties.promptCachedTokens" };
	uint64_t rfold;
	double seq = 0;
	int r;

	ev->kind = TL_EV_USAGE;
	ev->origin = TL_ORIGIN_APIM_LLM;
	if ((r = read_props(d)) < 0 || (r = set_resource(d, ev, &rfold)) < 0)
		return r;
	if ((r = need_string(d, &v[P_LLM_DEPLOYMENT], "properties.deploymentName")) < 0 ||
	    (r = set_deployment(d, ev, v[P_LLM_DEPLOYMENT].s, v[P_LLM_DEPLOYMENT].n,
				"properties.deploymentName", rfold)) < 0)
		return r;
	if ((r = opt_string(d, &v[P_MODEL], "properties.modelName")) < 0 ||
	    (r = set_model(d, ev, &v[P_MODEL], NULL, "properties.modelName")) < 0)
		return r;
	if (v[P_SEQUENCE].type != TL_JT_ABSENT) {
		if ((r = get_num(d, &v[P_SEQUENCE], "properties.sequenceNumber", &seq)) < 0)
			return r;
		/* it goes into the fingerprint as an integer */
		if (!(seq >= 0 && seq < 4294967296.0) || seq != (double)(uint32_t)seq)
			return bad(d, "field 'properties.sequenceNumber': not a chunk number: %g",
				   seq);
	}
	/* a message over 32 KiB is logged in chunks; tokens belong to the first */
	if (seq == 0 && (r = read_tokens(d, ev, P_PROMPT_TOKENS, P_COMPLETION_TOKENS,
					 P_CACHED_TOKENS, tokens)) < 0)
		return r;
	ev->fingerprint =
	    fingerprint(TL_ORIGIN_APIM_LLM, &v[T_CORRELATION], ev->time_ns, (uint64_t)seq);
	ev->usage_key = usage_key(ev, &v[T_CORRELATION]);
	return 0;
}

/* ---- Activity Log ----------------------------------------------------------------------- */

static const struct {
	const char *name;
	size_t len;
	enum tl_change_op op;
} change_ops[] = {
	{ LIT("Microsoft.CognitiveServices/accounts/deployments/write"),
	  TL_CHANGE_DEPLOYMENT_WRITE },
	{ LIT("Microsoft.CognitiveServices/accounts/deployments/delete"),
	  TL_CHANGE_DEPLOYMENT_DELETE },
	{ LIT("Microsoft.CognitiveServices/accounts/raiPolicies/write"),
	  TL_CHANGE_RAI_POLICY_WRITE },
	{ LIT("Microsoft.CognitiveServices/accounts/write"), TL_CHANGE_ACCOUNT_WRITE },
};

static const struct {
	const char *name;
	size_t len;
	enum tl_change_phase phase;
} change_phases[] = {
	{ LIT("Start"), TL_PHASE_START },
	{ LIT("Accept"), TL_PHASE_ACCEPT },
	{ LIT("Success"), TL_PHASE_SUCCESS },
	{ LIT("Failure"), TL_PHASE_FAILURE },
};

/* An ARM body (requestbody / responseBody) gives the model version and RAI policy. */
static void read_arm_body(struct tl_decoder *d, struct tl_event *ev, int slot, int level)
{
	const struct tl_jval *b = &d->vals[slot];

	if (b->type == TL_JT_STRING) {
		if (tl_json_extract(d->js, level, b->s, b->n, b->escaped, &d->ks.arm, d->vals) < 0)
			return;
	} else if (b->type != TL_JT_OBJECT) {
		return;
	}
	const struct tl_jval *v = d->vals;

	if (v[A_PROPS].type != TL_JT_OBJECT)
		return;
	if (!ev->model && v[A_MODEL].type == TL_JT_OBJECT && v[A_MODEL_NAME].type == TL_JT_STRING)
		(void)set_model(d, ev, &v[A_MODEL_NAME], &v[A_MODEL_VERSION], "model");
	if (!ev->u.change.detail)
		(void)intern_opt(d, &v[A_RAI], "raiPolicyName", &ev->u.change.detail);
}

/* Return: 0, 1 for an operation tripline does not follow, or TL_EVALUE. */
static int dec_activity(struct tl_decoder *d, struct tl_event *ev)
{
	const struct tl_jval *v = d->vals;
	const char *acct, *dep = NULL;
	size_t na, nd = 0;
	uint64_t rfold;
	int r, level;

	if (v[T_OPERATION].type != TL_JT_STRING)
		return 1;
	for (size_t i = 0; i < sizeof(change_ops) / sizeof(change_ops[0]); i++) {
		if (str_ieq(v[T_OPERATION].s, v[T_OPERATION].n, change_ops[i].name,
			    change_ops[i].len)) {
			ev->u.change.op = (uint8_t)change_ops[i].op;
			break;
		}
	}
	if (!ev->u.change.op)
		return 1;
	ev->kind = TL_EV_CHANGE;
	ev->origin = TL_ORIGIN_ACTIVITY;
	if ((r = need_string(d, &v[T_RESULT_TYPE], "resultType")) < 0)
		return r;
	for (size_t i = 0; i < sizeof(change_phases) / sizeof(change_phases[0]); i++) {
		if (str_ieq(v[T_RESULT_TYPE].s, v[T_RESULT_TYPE].n, change_phases[i].name,
			    change_phases[i].len)) {
			ev->u.change.phase = (uint8_t)change_phases[i].phase;
			break;
		}
	}
	if (!ev->u.change.phase)
		return 1; /* health events (Updated, Active, Resolved) of the same operation */
	if ((r = need_string(d, &v[T_RESOURCE_ID], "resourceId")) < 0)
		return r;
	acct = segment_after(v[T_RESOURCE_ID].s, v[T_RESOURCE_ID].n, "accounts", &na);
	if (!acct)
		return bad(d, "field 'resourceId': no account in \"%.*s\"",
			   (int)(v[T_RESOURCE_ID].n > 100 ? 100 : v[T_RESOURCE_ID].n),
			   v[T_RESOURCE_ID].s);
	if ((r = intern(d, acct, na, true, "resourceId", &ev->resource)) < 0)
		return r;
	rfold = tl_symtab_fold_hash(d->syms, ev->resource);
	/* properties is optional here: without it, its slots are absent */
	level = 1;
	if (v[T_PROPS].type != TL_JT_ABSENT && (level = read_props(d)) < 0)
		return level;
	if (ev->u.change.op == TL_CHANGE_DEPLOYMENT_WRITE ||
	    ev->u.change.op == TL_CHANGE_DEPLOYMENT_DELETE) {
		/* the streamed resourceId is upper case; properties.entity keeps the case */
		if (v[P_ENTITY].type == TL_JT_STRING)
			dep = segment_after(v[P_ENTITY].s, v[P_ENTITY].n, "deployments", &nd);
		if (!dep)
			dep = segment_after(v[T_RESOURCE_ID].s, v[T_RESOURCE_ID].n, "deployments",
					    &nd);
		if (!dep)
			return bad(d, "field 'resourceId': no deployment in \"%.*s\"",
				   (int)(v[T_RESOURCE_ID].n > 100 ? 100 : v[T_RESOURCE_ID].n),
				   v[T_RESOURCE_ID].s);
		if ((r = set_deployment(d, ev, dep, nd, "resourceId", rfold)) < 0)
			return r;
	} else {
		set_account(d, ev, rfold);
		if (ev->u.change.op == TL_CHANGE_RAI_POLICY_WRITE) {
			const char *pol;
			size_t np;

			last_segment(v[T_RESOURCE_ID].s, v[T_RESOURCE_ID].n, &pol, &np);
			if ((r = intern(d, pol, np, false, "resourceId", &ev->u.change.detail)) < 0)
				return r;
		}
	}
	read_arm_body(d, ev, P_REQUEST_BODY, level);
	read_arm_body(d, ev, P_RESPONSE_BODY, level);
	if (v[T_CORRELATION].type == TL_JT_STRING)
		ev->u.change.correlation =
		    tl_hash64(v[T_CORRELATION].s, v[T_CORRELATION].n, TL_HASH_SEED);
	ev->fingerprint = fingerprint(TL_ORIGIN_ACTIVITY, &v[T_CORRELATION], ev->time_ns,
				      (uint64_t)ev->u.change.op << 8 | ev->u.change.phase);
	return 0;
}

/* ---- native "category":"tripline" ------------------------------------------------------- */

static int dec_native(struct tl_decoder *d, struct tl_event *ev)
{
	const struct tl_jval *v = d->vals;
	static const char *const tokens[] = { "tokens_in", "tokens_out", "tokens_cached" };
	uint64_t rfold = d->fold_none;
	double x = 0;
	int r;

	ev->kind = TL_EV_REQUEST;
	ev->origin = TL_ORIGIN_NATIVE;
	if ((r = opt_string(d, &v[N_RESOURCE], "resource")) < 0)
		return r;
	if (v[N_RESOURCE].type == TL_JT_STRING) {
		if ((r = intern(d, v[N_RESOURCE].s, v[N_RESOURCE].n, true, "resource",
				&ev->resource)) < 0)
			return r;
		rfold = tl_symtab_fold_hash(d->syms, ev->resource);
	}
	if ((r = need_string(d, &v[N_DEPLOYMENT], "deployment")) < 0 ||
	    (r = set_deployment(d, ev, v[N_DEPLOYMENT].s, v[N_DEPLOYMENT].n, "deployment", rfold)) <
		0)
		return r;
	if ((r = opt_string(d, &v[N_MODEL], "model")) < 0 ||
	    (r = opt_string(d, &v[N_MODEL_VERSION], "model_version")) < 0 ||
	    (r = opt_string(d, &v[N_PROMPT_VERSION], "prompt_version")) < 0 ||
	    (r = opt_string(d, &v[N_REQUEST_ID], "request_id")) < 0 ||
	    (r = opt_string(d, &v[N_OPERATION], "operation")) < 0 ||
	    (r = set_model(d, ev, &v[N_MODEL], &v[N_MODEL_VERSION], "model")) < 0)
		return r;
	if ((r = intern_opt(d, &v[N_PROMPT_VERSION], "prompt_version", &ev->prompt_version)) < 0 ||
	    (r = intern_opt(d, &v[N_OPERATION], "operation", &ev->operation)) < 0)
		return r;
	if (v[N_LATENCY].type != TL_JT_ABSENT && v[N_LATENCY].type != TL_JT_NULL) {
		if ((r = get_num(d, &v[N_LATENCY], "latency_ms", &x)) < 0)
			return r;
		if (!(x >= 0))
			return bad(d, "field 'latency_ms': negative: %g", x);
		ev->u.req.latency_ms = (float)x;
		ev->flags |= TL_EVF_LATENCY;
	}
	if ((r = get_status(d, &v[N_STATUS], "status", &ev->status)) < 0 ||
	    (r = read_tokens(d, ev, N_TOK_IN, N_TOK_OUT, N_TOK_CACHED, tokens)) < 0)
		return r;
	switch (v[N_GUARDRAIL].type) {
	case TL_JT_ABSENT:
	case TL_JT_NULL:
		break;
	case TL_JT_BOOL: /* true: a guardrail fired */
		ev->flags |=
		    TL_EVF_GUARDRAIL_CHECKED | (v[N_GUARDRAIL].b ? TL_EVF_GUARDRAIL_FAILED : 0);
		break;
	case TL_JT_STRING:
		if (str_eq(&v[N_GUARDRAIL], "pass")) {
			ev->flags |= TL_EVF_GUARDRAIL_CHECKED;
		} else if (str_eq(&v[N_GUARDRAIL], "fail") || str_eq(&v[N_GUARDRAIL], "blocked") ||
			   str_eq(&v[N_GUARDRAIL], "filtered")) {
			ev->flags |= TL_EVF_GUARDRAIL_CHECKED | TL_EVF_GUARDRAIL_FAILED;
		} else {
			return bad(d,
				   "field 'guardrail': expected \"pass\", \"fail\", \"blocked\" "
				   "or \"filtered\", got \"%.*s\"",
				   (int)(v[N_GUARDRAIL].n > 20 ? 20 : v[N_GUARDRAIL].n),
				   v[N_GUARDRAIL].s);
		}
		break;
	default:
		return bad(d, "field 'guardrail': expected a string or a boolean, got %s",
			   type_name(v[N_GUARDRAIL].type));
	}
	if (v[N_REFUSAL].type == TL_JT_BOOL) {
		ev->flags |= TL_EVF_REFUSAL_CHECKED | (v[N_REFUSAL].b ? TL_EVF_REFUSAL : 0);
	} else if (v[N_REFUSAL].type != TL_JT_ABSENT && v[N_REFUSAL].type != TL_JT_NULL) {
		return bad(d, "field 'refusal': expected a boolean, got %s",
			   type_name(v[N_REFUSAL].type));
	}
	if (v[N_STREAM].type == TL_JT_BOOL && v[N_STREAM].b)
		ev->flags |= TL_EVF_STREAMING;
	ev->fingerprint = fingerprint(TL_ORIGIN_NATIVE, &v[N_REQUEST_ID], ev->time_ns, 0);
	ev->usage_key = usage_key(ev, &v[N_REQUEST_ID]);
	return 0;
}

/* ---- dispatch --------------------------------------------------------------------------- */

/*
 * The line of @p in the unit being decoded. Reports come in order, so the count goes on from
 * the last position asked for instead of the start of the unit.
 */
static uint64_t line_of(struct tl_decoder *d, const char *p)
{
	if (!d->unit->line)
		return 0;
	if (p < d->line_at) {
		d->line_at = d->unit->data;
		d->line = d->unit->line;
	}
	for (const char *q = d->line_at; q < p; q++)
		d->line += *q == '\n';
	d->line_at = p;
	return d->line;
}

/*
 * Report the @raw_len bytes at @raw, inside @u and on @line, as one malformed record;
 * @truncated: the record goes on past them.
 */
static void malformed(struct tl_decoder *d, const struct tl_unit *u, uint64_t line, const char *raw,
		      size_t raw_len, bool truncated, const char *reason)
{
	const struct tl_malformed m = {
		.input = u->input,
		.offset = u->offset + (uint64_t)(raw - u->data),
		.line = line,
		.reason = reason,
		.raw = raw,
		.raw_len = raw_len,
		.raw_truncated = truncated,
	};

	d->stats.malformed++;
	if (d->on_malformed)
		d->on_malformed(d->ud, &m);
}

/* A record of the unit being decoded, whole. */
static void report(struct tl_decoder *d, const char *raw, size_t raw_len, const char *reason)
{
	malformed(d, d->unit, line_of(d, raw), raw, raw_len, false, reason);
}

static int on_record(void *ud, const struct tl_jrec *rec)
{
	struct tl_decoder *d = ud;
	const struct tl_jval *v = rec->vals;
	const struct tl_jval *cat = &v[T_CATEGORY];
	struct tl_event *ev;
	int r;

	d->stats.records++;
	if (rec->not_object) {
		report(d, rec->raw, rec->raw_len, "a record must be a JSON object");
		return 0;
	}
	if (tl_evbuf_reserve(d->out, 1) < 0)
		return -ENOMEM; /* stops the walk; tl_json_visit() returns it */
	ev = &d->out->ev[d->out->n];
	memset(ev, 0, sizeof(*ev));
	if ((r = get_time(d, &v[T_TIME], &ev->time_ns)) < 0)
		goto out_malformed;
	if (cat->type == TL_JT_STRING) {
		if (str_eq(cat, "RequestResponse"))
			r = dec_request_response(d, ev);
		else if (str_eq(cat, "GatewayLogs"))
			r = dec_gateway(d, ev);
		else if (str_eq(cat, "GatewayLlmLogs"))
			r = dec_llm(d, ev);
		else if (str_eq(cat, "tripline"))
			r = dec_native(d, ev);
		else
			r = dec_activity(d, ev); /* or any other category: skipped */
	} else if (cat->type == TL_JT_ABSENT && v[T_METRIC].type != TL_JT_ABSENT) {
		r = dec_metric(d, ev);
	} else if (cat->type == TL_JT_ABSENT) {
		r = bad(d, "not a record of a known category: no 'category' or 'metricName'");
	} else {
		r = bad(d, "field 'category': expected a string, got %s", type_name(cat->type));
	}
	if (r < 0)
		goto out_malformed;
	if (r > 0) {
		d->stats.skipped++;
		return 0;
	}
	ev->raw = (struct tl_rawref){
		.ptr = (const unsigned char *)rec->raw,
		.batch = d->unit->batch,
		.offset = d->unit->offset + (uint64_t)(rec->raw - d->unit->data),
		.len = (uint32_t)rec->raw_len,
		.input = d->unit->input,
	};
	d->out->n++;
	d->stats.events++;
	d->stats.by_origin[ev->origin]++;
	return 0;

out_malformed:
	report(d, rec->raw, rec->raw_len, d->why);
	return 0;
}

int tl_decoder_unit(struct tl_decoder *d, const struct tl_unit *u, struct tl_evbuf *out)
{
	struct tl_json_error err;
	size_t b = 0, e = u->len;
	int r;

	while (b < e && (u->data[b] == ' ' || u->data[b] == '\t' || u->data[b] == '\r' ||
			 u->data[b] == '\n'))
		b++;
	while (e > b && (u->data[e - 1] == ' ' || u->data[e - 1] == '\t' ||
			 u->data[e - 1] == '\r' || u->data[e - 1] == '\n'))
		e--;
	if (b == e)
		return 0;
	d->unit = u;
	d->out = out;
	d->line_at = u->data;
	d->line = u->line;
	if (e - b > TL_MAX_RECORD) {
		d->stats.records++;
		malformed(d, u, line_of(d, u->data + b), u->data + b, TL_MAX_RECORD, true,
			  "record larger than 1 MiB");
		return 0;
	}
	r = tl_json_visit(d->js, u->data + b, e - b, &d->ks.top, d->vals, on_record, d, &err);
	if (r == -ENOMEM)
		return r;
	if (r == TL_EJSON) {
		d->stats.records++;
		(void)snprintf(d->why, sizeof(d->why), "bad JSON: %s (at input byte %llu)",
			       err.message, (unsigned long long)(u->offset + b + err.offset));
		report(d, err.rest, err.rest_len, d->why);
	}
	return 0;
}

void tl_decoder_report(struct tl_decoder *d, const struct tl_unit *u, const char *reason,
		       bool truncated)
{
	d->stats.records++;
	malformed(d, u, u->line, u->data, u->len, truncated, reason);
}

const struct tl_decode_stats *tl_decoder_stats(const struct tl_decoder *d)
{
	return &d->stats;
}

/* ---- setup ------------------------------------------------------------------------------ */

static int build_keysets(struct keysets *k)
{
	const struct tl_jkey_spec arm_props_spec[] = {
		{ "model", A_MODEL, 0, &k->model },
		{ "raiPolicyName", A_RAI, 0, NULL },
	};
	const struct tl_jkey_spec arm_spec[] = {
		{ "sku", A_SKU, 0, &k->sku },
		{ "properties", A_PROPS, 0, &k->arm_props },
	};
	const struct tl_jkey_spec usage_spec[] = {
		{ "prompt_tokens", B_PROMPT, 0, NULL },
		{ "completion_tokens", B_COMPLETION, 0, NULL },
		{ "prompt_tokens_details", B_PTD, 0, &k->usage_details },
	};
	const struct tl_jkey_spec body_spec[] = {
		{ "error", B_ERROR, 0, &k->error },
		{ "choices", B_CHOICES, 0, NULL },
		{ "usage", B_USAGE, 0, &k->usage },
		{ "model", B_MODEL, 0, NULL },
	};
	const struct tl_jkey_spec choice_spec[] = {
		{ "finish_reason", C_FINISH, 0, NULL },
		{ "message", C_MESSAGE, 0, &k->message },
		{ "delta", C_MESSAGE, 0, &k->message },
	};
	const struct tl_jkey_spec props_spec[] = {
		{ "requestTime", P_REQ_TIME, 0, NULL },
		{ "responseTime", P_RESP_TIME, 0, NULL },
		{ "streamType", P_STREAM_TYPE, 0, NULL },
		{ "modelDeploymentName", P_DEPLOYMENT, 0, NULL },
		{ "modelName", P_MODEL, 0, NULL },
		{ "ModelName", P_MODEL, 0, NULL },
		{ "modelVersion", P_MODEL_VERSION, 0, NULL },
		{ "backendUrl", P_BACKEND_URL, 0, NULL },
		{ "url", P_URL, 0, NULL },
		{ "responseCode", P_RESPONSE_CODE, 0, NULL },
		{ "backendResponseCode", P_BACKEND_CODE, 0, NULL },
		{ "totalTime", P_TOTAL_TIME, 0, NULL },
		{ "backendResponseBody", P_BODY, TL_JK_RAWSTR, &k->body },
		{ "deploymentName", P_LLM_DEPLOYMENT, 0, NULL },
		{ "DeploymentName", P_LLM_DEPLOYMENT, 0, NULL },
		{ "promptTokens", P_PROMPT_TOKENS, 0, NULL },
		{ "PromptTokens", P_PROMPT_TOKENS, 0, NULL },
		{ "completionTokens", P_COMPLETION_TOKENS, 0, NULL },
		{ "CompletionTokens", P_COMPLETION_TOKENS, 0, NULL },
		{ "promptCachedTokens", P_CACHED_TOKENS, 0, NULL },
		{ "PromptCachedTokens", P_CACHED_TOKENS, 0, NULL },
		{ "sequenceNumber", P_SEQUENCE, 0, NULL },
		{ "SequenceNumber", P_SEQUENCE, 0, NULL },
		{ "entity", P_ENTITY, 0, NULL },
		{ "requestbody", P_REQUEST_BODY, TL_JK_RAWSTR, &k->arm },
		{ "responseBody", P_RESPONSE_BODY, TL_JK_RAWSTR, &k->arm },
	};
	const struct tl_jkey_spec top_spec[] = {
		{ "time", T_TIME, 0, NULL },
		{ "category", T_CATEGORY, 0, NULL },
		{ "resourceId", T_RESOURCE_ID, 0, NULL },
		{ "operationName", T_OPERATION, 0, NULL },
		{ "correlationId", T_CORRELATION, 0, NULL },
		{ "durationMs", T_DURATION, 0, NULL },
		{ "resultSignature", T_RESULT_SIG, 0, NULL },
		{ "resultType", T_RESULT_TYPE, 0, NULL },
		{ "properties", T_PROPS, TL_JK_RAWSTR, &k->props },
		{ "metricName", T_METRIC, 0, NULL },
		{ "total", T_TOTAL, 0, NULL },
		{ "count", T_COUNT, 0, NULL },
		{ "resource", N_RESOURCE, 0, NULL },
		{ "deployment", N_DEPLOYMENT, 0, NULL },
		{ "model", N_MODEL, 0, NULL },
		{ "model_version", N_MODEL_VERSION, 0, NULL },
		{ "prompt_version", N_PROMPT_VERSION, 0, NULL },
		{ "request_id", N_REQUEST_ID, 0, NULL },
		{ "latency_ms", N_LATENCY, 0, NULL },
		{ "status", N_STATUS, 0, NULL },
		{ "tokens_in", N_TOK_IN, 0, NULL },
		{ "tokens_out", N_TOK_OUT, 0, NULL },
		{ "tokens_cached", N_TOK_CACHED, 0, NULL },
		{ "guardrail", N_GUARDRAIL, 0, NULL },
		{ "refusal", N_REFUSAL, 0, NULL },
		{ "operation", N_OPERATION, 0, NULL },
		{ "stream", N_STREAM, 0, NULL },
	};
#define BUILD(ks, spec) tl_jkeys_init(&(ks), (spec), sizeof(spec) / sizeof((spec)[0]))
	if (BUILD(k->sku, sku_spec) || BUILD(k->model, model_spec) ||
	    BUILD(k->arm_props, arm_props_spec) || BUILD(k->arm, arm_spec) ||
	    BUILD(k->usage_details, usage_details_spec) || BUILD(k->usage, usage_spec) ||
	    BUILD(k->error, error_spec) || BUILD(k->body, body_spec) ||
	    BUILD(k->message, message_spec) || BUILD(k->choice, choice_spec) ||
	    BUILD(k->props, props_spec) || BUILD(k->top, top_spec))
		return -1;
#undef BUILD
	return 0;
}

struct tl_decoder *tl_decoder_new(struct tl_symtab *syms, tl_malformed_fn on_malformed, void *ud,
				  int *ret_err)
{
	struct tl_decoder *d = calloc(1, sizeof(*d));
	bool cpu_ok = true;

	if (!d) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	d->syms = syms;
	d->on_malformed = on_malformed;
	d->ud = ud;
	if (build_keysets(&d->ks) < 0) {
		free(d);
		*ret_err = TL_EVALUE;
		return NULL;
	}
	d->js = tl_json_new(TL_MAX_RECORD, &cpu_ok);
	if (!d->js) {
		free(d);
		*ret_err = cpu_ok ? -ENOMEM : TL_ECPU;
		return NULL;
	}
	if (tl_symtab_intern(syms, TL_ACCOUNT_DEPLOYMENT, 1, &d->sym_account) < 0) {
		tl_decoder_free(d);
		*ret_err = -ENOMEM;
		return NULL;
	}
	d->fold_account = tl_symtab_fold_hash(syms, d->sym_account);
	d->fold_none = tl_fold_hash("", 0);
	return d;
}

void tl_decoder_free(struct tl_decoder *d)
{
	if (!d)
		return;
	tl_json_free(d->js);
	free(d);
}
