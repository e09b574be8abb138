/*
 * ingest/json.cpp - the thin wrapper of simdjson On-Demand behind ingest/json.h. The only C++
 * file in the tree. It knows JSON, not Azure's fields: those come in key sets from the caller;
 * the one shape it knows is the {"records":[...]} envelope that every Azure export and Event
 * Hubs batch uses. No exceptions, no RTTI, no allocation per document (the parsers keep
 * their buffers between documents).
 *
 * Levels: parser 0 walks documents (tl_json_visit); parsers 1 to TL_JSON_MAX_LEVEL parse JSON
 * held inside strings of outer levels, so the strings an outer level returned stay valid
 * meanwhile.
 * Thread: a struct tl_json belongs to one thread.
 */
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include <simdjson.h>

extern "C" {
#include <tripline/error.h>
}

#include "ingest_int.h"
#include "json.h"

using namespace simdjson;

#define TL_JSON_LEVELS (TL_JSON_MAX_LEVEL + 1) /* level 0 and the inner levels */

struct tl_json {
	ondemand::parser parser[TL_JSON_LEVELS];
	char *scratch[TL_JSON_LEVELS]; /* padded copies of embedded JSON */
	size_t scratch_cap[TL_JSON_LEVELS];
	size_t max_doc;
	struct tl_flat *flat; /* the fast path for flat records (flat.c) */
	bool no_flat;         /* tl_json_set_flat(): every document through simdjson */
};

extern "C" int tl_jkeys_init(struct tl_jkeys *ks, const struct tl_jkey_spec *spec, size_t n)
{
	size_t k = 0;

	if (n > sizeof(ks->keys) / sizeof(ks->keys[0]))
		return -1;
	ks->n_slots = 0;
	/* place the keys sorted by length */
	for (size_t len = 0; len <= TL_JKEY_MAX; len++) {
		ks->by_len[len] = (uint8_t)k;
		for (size_t i = 0; i < n; i++) {
			if (strlen(spec[i].name) != len)
				continue;
			struct tl_jkey *key = &ks->keys[k++];

			memset(key->name, 0, sizeof(key->name));
			memcpy(key->name, spec[i].name, len);
			key->head = tl_jkeys__head(key->name, len);
			key->tail = tl_jkeys__tail(key->name, len);
			key->len = (uint32_t)len;
			key->slot = spec[i].slot;
			key->flags = spec[i].flags;
			key->sub = spec[i].sub;
			if (memchr(key->name, '\\', len))
				return -1;
			for (size_t j = ks->by_len[len]; j + 1 < k; j++)
				if (memcmp(ks->keys[j].name, key->name, len) == 0)
					return -1; /* the same name twice */
			if (spec[i].slot + 1 > ks->n_slots)
				ks->n_slots = (uint16_t)(spec[i].slot + 1);
			if (spec[i].sub && spec[i].sub->n_slots > ks->n_slots)
				ks->n_slots = spec[i].sub->n_slots;
		}
	}
	ks->by_len[TL_JKEY_MAX + 1] = (uint8_t)k;
	if (k != n)
		return -1; /* a name longer than TL_JKEY_MAX was left out */
	/* the flat list of slots to clear: these keys' and every sub set's (a set shared by
	 * two keys is listed twice, which is harmless) */
	ks->n_all = 0;
	for (size_t i = 0; i < n; i++) {
		const struct tl_jkeys *sub = ks->keys[i].sub;
		const size_t more = 1 + (sub ? sub->n_all : 0);

		if (ks->n_all + more > sizeof(ks->all) / sizeof(ks->all[0]))
			return -1;
		ks->all[ks->n_all++] = ks->keys[i].slot;
		for (size_t j = 0; sub && j < sub->n_all; j++)
			ks->all[ks->n_all++] = sub->all[j];
	}
	/* a key set whose slots (its own and its sub sets') are one range clears with memset */
	bool seen[4 * sizeof(ks->all) / sizeof(ks->all[0])] = { false };
	size_t distinct = 0;

	ks->lo = UINT16_MAX;
	ks->hi = 0;
	for (size_t i = 0; i < ks->n_all; i++) {
		const uint16_t slot = ks->all[i];

		if (slot >= sizeof(seen))
			return -1;
		if (!seen[slot])
			distinct++;
		seen[slot] = true;
		if (slot < ks->lo)
			ks->lo = slot;
		if (slot > ks->hi)
			ks->hi = slot;
	}
	ks->dense = ks->n_all > 0 && (size_t)(ks->hi - ks->lo + 1) == distinct;
	return 0;
}

extern "C" struct tl_json *tl_json_new(size_t max_doc, bool *ret_cpu_ok)
{
#if defined(TL_SIMD_HASWELL)
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("bmi2") ||
	    !__builtin_cpu_supports("pclmul")) {
		*ret_cpu_ok = false;
		return nullptr;
	}
#endif
	*ret_cpu_ok = true;
	tl_json *js = new (std::nothrow) tl_json();
	if (!js)
		return nullptr;
	js->max_doc = max_doc;
	if (!(js->flat = tl_flat_new(max_doc))) {
		tl_json_free(js);
		return nullptr;
	}
	/* the document parser is sized for the largest document once; the inner levels
	 * grow on demand (within max_doc, which every entry point checks) */
	if (js->parser[0].allocate(max_doc + 2) != SUCCESS) {
		tl_json_free(js);
		return nullptr;
	}
	return js;
}

extern "C" void tl_json_set_flat(struct tl_json *js, bool on)
{
	js->no_flat = !on;
}

extern "C" void tl_json_free(struct tl_json *js)
{
	if (!js)
		return;
	for (int l = 0; l < TL_JSON_LEVELS; l++)
		free(js->scratch[l]);
	tl_flat_free(js->flat);
	delete js;
}

static inline const char *rtrim(const char *b, const char *e)
{
	while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		e--;
	return e;
}

/* The raw JSON text of an object or array value (consumes it). */
static error_code raw_container(ondemand::value &v, ondemand::json_type t, std::string_view *ret)
{
	error_code e;

	if (t == ondemand::json_type::object) {
		ondemand::object o;

		if ((e = v.get_object().get(o)))
			return e;
		return o.raw_json().get(*ret);
	}
	ondemand::array a;

	if ((e = v.get_array().get(a)))
		return e;
	return a.raw_json().get(*ret);
}

/* The raw JSON text of any value (consumes it). */
static error_code raw_any(ondemand::value &v, ondemand::json_type t, std::string_view *ret)
{
	if (t == ondemand::json_type::object || t == ondemand::json_type::array)
		return raw_container(v, t, ret);
	std::string_view tok = v.raw_json_token();
	const char *b = tok.data();

	*ret = std::string_view(b, (size_t)(rtrim(b, b + tok.size()) - b));
	/* consume the scalar so the walk moves on */
	ondemand::json_type t2;
	return v.type().get(t2);
}

/* Whether the whole document has been read (no trailing content). */
static bool doc_at_end(ondemand::document &d)
{
	const char *loc;

	return d.current_location().get(loc) == OUT_OF_BOUNDS;
}

/* Fill the slots of @ks from the fields of @obj, in one pass. */
static error_code fill_object(ondemand::object &obj, const struct tl_jkeys *ks,
			      struct tl_jval *vals);

static error_code fill_value(ondemand::value &v, const struct tl_jkey *k, struct tl_jval *vals)
{
	struct tl_jval *out = &vals[k->slot];
	ondemand::json_type t;
	error_code e;

	if ((e = v.type().get(t)))
		return e;
	out->escaped = false;
	switch (t) {
	case ondemand::json_type::object:
		if (k->sub) {
			ondemand::object o;

			tl_jkeys_clear(k->sub, vals);
			if ((e = v.get_object().get(o)) || (e = fill_object(o, k->sub, vals)))
				return e;
			out->type = TL_JT_OBJECT;
			out->s = nullptr;
			out->n = 0;
			return SUCCESS;
		}
		[[fallthrough]];
	case ondemand::json_type::array: {
		std::string_view raw;

		if ((e = raw_container(v, t, &raw)))
			return e;
		out->type = t == ondemand::json_type::array ? TL_JT_ARRAY : TL_JT_OBJECT;
		out->s = raw.data();
		out->n = raw.size();
		return SUCCESS;
	}
	case ondemand::json_type::string: {
		std::string_view s;

		if (k->flags & TL_JK_RAWSTR) {
			s = v.raw_json_token();
			/* the token runs from the opening quote to the next structural
			 * character; stage 1 has checked that the string is closed */
			const char *b = s.data() + 1, *end = rtrim(s.data(), s.data() + s.size());

			if (end <= b || end[-1] != '"')
				return TAPE_ERROR;
			out->s = b;
			out->n = (size_t)(end - 1 - b);
			out->escaped = memchr(out->s, '\\', out->n) != nullptr;
		} else {
			if ((e = v.get_string().get(s)))
				return e;
			out->s = s.data();
			out->n = s.size();
		}
		out->type = TL_JT_STRING;
		return SUCCESS;
	}
	case ondemand::json_type::number: {
		int64_t i;
		double d;

		if (v.get_int64().get(i) == SUCCESS) {
			out->type = TL_JT_INT;
			out->i = i;
		} else if (v.get_double().get(d) == SUCCESS) {
			out->type = TL_JT_DOUBLE;
			out->d = d;
		} else {
			out->type = TL_JT_BAD;
		}
		return SUCCESS;
	}
	case ondemand::json_type::boolean: {
		bool b;

		if ((e = v.get_bool().get(b)))
			return e;
		out->type = TL_JT_BOOL;
		out->b = b;
		return SUCCESS;
	}
	case ondemand::json_type::null: {
		bool is_null;

		if ((e = v.is_null().get(is_null)))
			return e;
		if (!is_null)
			return INCORRECT_TYPE;
		out->type = TL_JT_NULL;
		return SUCCESS;
	}
	}
	return INCORRECT_TYPE;
}

/*
 * The raw text of @f's key: @ret_len bytes up to the closing quote; NULL if it holds an escape
 * (no key set has such a name).
 */
static inline const char *field_key(ondemand::field &f, size_t *ret_len)
{
	const char *k = f.key().raw();
	/* stage 1 has checked that the string closes, inside the padded input */
	const char *q = tl_scan_quote(k);

	if (*q != '"')
		return nullptr;
	*ret_len = (size_t)(q - k);
	return k;
}

static error_code fill_object(ondemand::object &obj, const struct tl_jkeys *ks,
			      struct tl_jval *vals)
{
	for (auto field : obj) {
		error_code e;
		size_t klen;

		/* by reference: copying simdjson's iterators stalls on store forwarding */
		if ((e = field.error()))
			return e;
		ondemand::field &f = field.value_unsafe();
		const char *k = field_key(f, &klen);

		if (!k)
			continue;
		const struct tl_jkey *spec = tl_jkeys_find(ks, k, klen);

		if (!spec)
			continue;
		if ((e = fill_value(f.value(), spec, vals)))
			return e;
	}
	return SUCCESS;
}

struct visit_ctx {
	ondemand::document *doc;
	const char *base; /* the document */
	size_t len;
	const struct tl_jkeys *keys;
	struct tl_jval *vals;
	tl_json_record_fn fn;
	void *ud;
	int stop;        /* nonzero value returned by fn */
	const char *cur; /* start of the record being read */
};

/* The end of a value just consumed: the next token, less whitespace. */
static const char *consumed_end(struct visit_ctx *c, const char *start)
{
	const char *loc;

	if (c->doc->current_location().get(loc) != SUCCESS)
		loc = c->base + c->len;
	if (loc < start)
		loc = start;
	return rtrim(start, loc);
}

static error_code deliver(struct visit_ctx *c, const char *raw, size_t raw_len, bool not_object)
{
	struct tl_jrec rec = { c->vals, raw, raw_len, not_object };

	c->stop = c->fn(c->ud, &rec);
	return SUCCESS;
}

/* Deliver an element that is not an object: its raw text, slots unset. */
static error_code deliver_other(struct visit_ctx *c, ondemand::value &v, ondemand::json_type t)
{
	std::string_view raw;
	error_code e;

	if ((e = raw_any(v, t, &raw)))
		return e;
	return deliver(c, raw.data(), raw.size(), true);
}

/* One element of a records array. */
static error_code visit_record(struct visit_ctx *c, ondemand::value v)
{
	std::string_view tok;
	ondemand::json_type t;
	error_code e;

	tok = v.raw_json_token();
	if ((e = v.type().get(t)))
		return e;
	c->cur = tok.data();
	if (t != ondemand::json_type::object)
		return deliver_other(c, v, t);
	ondemand::object o;

	tl_jkeys_clear(c->keys, c->vals);
	if ((e = v.get_object().get(o)) || (e = fill_object(o, c->keys, c->vals)))
		return e;
	const char *end = consumed_end(c, tok.data());

	return deliver(c, tok.data(), (size_t)(end - tok.data()), false);
}

/*
 * An object that is either an envelope (it has a "records" array: its elements are the
 * records) or a record itself. Fields are read in one pass: if "records" turns up, the fields
 * read so far were the envelope's own and are dropped.
 */
static error_code visit_candidate(struct visit_ctx *c, ondemand::object &obj, const char *start,
				  bool *ret_envelope)
{
	bool envelope = false;

	tl_jkeys_clear(c->keys, c->vals);
	for (auto field : obj) {
		error_code e;
		size_t klen;

		/* by reference: copying simdjson's iterators stalls on store forwarding */
		if ((e = field.error()))
			return e;
		ondemand::field &f = field.value_unsafe();
		const char *k = field_key(f, &klen);

		if (!k)
			continue;
		if (klen == 7 && memcmp(k, "records", 7) == 0) {
			ondemand::value v = f.value();
			ondemand::json_type t;

			if ((e = v.type().get(t)))
				return e;
			if (t == ondemand::json_type::array) {
				ondemand::array arr;

				envelope = true;
				if ((e = v.get_array().get(arr)))
					return e;
				for (auto elem : arr) {
					ondemand::value ev;

					c->cur = nullptr;
					if ((e = std::move(elem).get(ev)) ||
					    (e = visit_record(c, ev)))
						return e;
					if (c->stop)
						return SUCCESS;
				}
				continue;
			}
		}
		if (envelope)
			continue;
		const struct tl_jkey *spec = tl_jkeys_find(c->keys, k, klen);

		if (spec && (e = fill_value(f.value(), spec, c->vals)))
			return e;
	}
	*ret_envelope = envelope;
	if (!envelope) {
		const char *end = consumed_end(c, start);

		return deliver(c, start, (size_t)(end - start), false);
	}
	return SUCCESS;
}

extern "C" int tl_json_visit(struct tl_json *js, const char *doc, size_t len,
			     const struct tl_jkeys *keys, struct tl_jval *vals,
			     tl_json_record_fn fn, void *ud, struct tl_json_error *ret_err)
{
	ondemand::document d;
	ondemand::json_type t;
	visit_ctx c = { &d, doc, len, keys, vals, fn, ud, 0, nullptr };
	error_code e;
	bool envelope, have_doc = false;

	if (len > js->max_doc) {
		e = CAPACITY;
		goto out_error;
	}
	if (!js->no_flat) {
		int stop;

		if (tl_flat_visit(js->flat, doc, len, keys, vals, fn, ud, &stop))
			return stop;
	}
	/* stage 1 errors (UTF-8, unclosed strings) leave no document to ask for a location */
	if ((e = js->parser[0].iterate(doc, len, len + TL_JSON_PADDING).get(d)))
		goto out_error;
	have_doc = true;
	if ((e = d.type().get(t)))
		goto out_error;
	if (t == ondemand::json_type::object) {
		ondemand::object o;

		c.cur = doc;
		if ((e = d.get_object().get(o)))
			goto out_error;
		if ((e = visit_candidate(&c, o, doc, &envelope)))
			goto out_error;
	} else if (t == ondemand::json_type::array) {
		ondemand::array arr;

		if ((e = d.get_array().get(arr)))
			goto out_error;
		for (auto elem : arr) {
			ondemand::value v;
			ondemand::json_type et;
			std::string_view tok;

			if ((e = std::move(elem).get(v)) || (e = v.type().get(et)))
				goto out_error;
			tok = v.raw_json_token();
			c.cur = tok.data();
			if (et == ondemand::json_type::object) {
				ondemand::object o;

				if ((e = v.get_object().get(o)) ||
				    (e = visit_candidate(&c, o, tok.data(), &envelope)))
					goto out_error;
			} else if ((e = deliver_other(&c, v, et))) {
				goto out_error;
			}
			if (c.stop)
				return c.stop;
		}
	} else {
		ret_err->message = "the document is not a JSON object or array";
		ret_err->offset = 0;
		ret_err->rest = doc;
		ret_err->rest_len = len;
		return TL_EJSON;
	}
	if (c.stop)
		return c.stop;
	if (!doc_at_end(d)) {
		e = TRAILING_CONTENT;
		goto out_error;
	}
	return 0;

out_error : {
	const char *loc = nullptr;

	if (!have_doc || d.current_location().get(loc) != SUCCESS || loc < doc || loc > doc + len)
		loc = nullptr;
	ret_err->message = error_message(e);
	ret_err->offset = loc ? (size_t)(loc - doc) : 0;
	ret_err->rest = c.cur && c.cur >= doc && c.cur <= doc + len ? c.cur : doc;
	ret_err->rest_len = len - (size_t)(ret_err->rest - doc);
	return TL_EJSON;
}
}

/* Copy @n bytes to the padded scratch buffer of @level, with @pre and @post around them. */
static char *scratch_copy(struct tl_json *js, int level, const char *s, size_t n, const char *pre,
			  const char *post)
{
	size_t lp = strlen(pre), lq = strlen(post), need = lp + n + lq + TL_JSON_PADDING;

	if (need > js->scratch_cap[level]) {
		char *p = static_cast<char *>(realloc(js->scratch[level], need));

		if (!p)
			return nullptr;
		js->scratch[level] = p;
		js->scratch_cap[level] = need;
	}
	memcpy(js->scratch[level], pre, lp);
	memcpy(js->scratch[level] + lp, s, n);
	memcpy(js->scratch[level] + lp + n, post, lq);
	memset(js->scratch[level] + lp + n + lq, ' ', TL_JSON_PADDING);
	return js->scratch[level];
}

extern "C" int tl_json_extract(struct tl_json *js, int level, const char *text, size_t len,
			       bool escaped, const struct tl_jkeys *keys, struct tl_jval *vals)
{
	ondemand::document d;
	ondemand::object o;
	ondemand::json_type t;
	const char *json;
	int r;

	/* checks the level; the unescaped text is in the parser's string buffer, until the
	 * next iterate below */
	if ((r = tl_json_unescape(js, level, text, len, escaped, &text, &len)) < 0)
		return r;
	json = scratch_copy(js, level, text, len, "", "");
	if (!json)
		return -ENOMEM;
	tl_jkeys_clear(keys, vals);
	ondemand::parser &p = js->parser[level];

	if (p.iterate(json, len, len + TL_JSON_PADDING).get(d) || d.type().get(t))
		return TL_EJSON;
	if (t != ondemand::json_type::object)
		return TL_ETYPE;
	if (d.get_object().get(o) || fill_object(o, keys, vals) || !doc_at_end(d))
		return TL_EJSON;
	return 0;
}

extern "C" int tl_json_each(struct tl_json *js, int level, const char *arr, size_t len,
			    const struct tl_jkeys *keys, struct tl_jval *vals, tl_json_record_fn fn,
			    void *ud)
{
	ondemand::document d;
	ondemand::array a;
	const char *json;

	if (level < 1 || level >= TL_JSON_LEVELS || len > js->max_doc)
		return TL_ETOOBIG;
	json = scratch_copy(js, level, arr, len, "", "");
	if (!json)
		return -ENOMEM;
	if (js->parser[level].iterate(json, len, len + TL_JSON_PADDING).get(d) ||
	    d.get_array().get(a))
		return TL_EJSON;
	for (auto elem : a) {
		ondemand::value v;
		ondemand::json_type t;
		ondemand::object o;
		struct tl_jrec rec = { vals, nullptr, 0, false };

		if (std::move(elem).get(v) || v.type().get(t))
			return TL_EJSON;
		tl_jkeys_clear(keys, vals);
		if (t == ondemand::json_type::object) {
			if (v.get_object().get(o) || fill_object(o, keys, vals))
				return TL_EJSON;
		} else {
			rec.not_object = true;
		}
		int r = fn(ud, &rec);

		if (r)
			return r;
	}
	if (!doc_at_end(d))
		return TL_EJSON;
	return 0;
}

extern "C" int tl_json_unescape(struct tl_json *js, int level, const char *text, size_t len,
				bool escaped, const char **ret_s, size_t *ret_n)
{
	ondemand::document d;
	std::string_view s;

	if (level < 1 || level >= TL_JSON_LEVELS || len > js->max_doc)
		return TL_ETOOBIG;
	if (!escaped) {
		*ret_s = text;
		*ret_n = len;
		return 0;
	}
	char *q = scratch_copy(js, level, text, len, "\"", "\"");

	if (!q)
		return -ENOMEM;
	if (js->parser[level].iterate(q, len + 2, len + 2 + TL_JSON_PADDING).get(d) ||
	    d.get_string().get(s))
		return TL_EJSON;
	*ret_s = s.data();
	*ret_n = s.size();
	return 0;
}
