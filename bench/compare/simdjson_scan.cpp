/*
 * bench/compare/simdjson_scan.cpp - the ceiling of bench/compare.sh: simdjson On-Demand alone
 * over an NDJSON file of RequestResponse records. For each line it reads `time` and
 * `durationMs`, parses the `properties` string and reads `modelDeploymentName`: the fields
 * the latency rule needs, with no validation, no events and no detection. The file is read
 * in chunks, as tripline reads it, and each line is one document, as tripline parses it.
 *
 *   simdjson_scan FILE    prints the records, the deployments' bytes and the sum of durationMs
 *
 * Benchmark code, not part of tripline: it may exit on the first error.
 */
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <simdjson.h>

using namespace simdjson;

static constexpr size_t CHUNK = 1 << 20;

static void fail(const char *what, size_t line, error_code e)
{
	fprintf(stderr, "simdjson_scan: line %zu: %s: %s\n", line, what, error_message(e));
	exit(1);
}

struct totals {
	size_t records, dep_bytes, time_bytes;
	int64_t dur_sum;
};

/* One record of @len bytes at @p (with SIMDJSON_PADDING readable bytes after it). */
static void record(ondemand::parser &outer, ondemand::parser &props, char *inner, const char *p,
		   size_t len, totals *t)
{
	const size_t line = t->records + 1;
	ondemand::document d;
	ondemand::object o;
	error_code e;

	if ((e = outer.iterate(p, len, len + SIMDJSON_PADDING).get(d)) ||
	    (e = d.get_object().get(o)))
		fail("record", line, e);
	for (auto field : o) {
		std::string_view k, s;
		ondemand::value v;
		int64_t ms;

		if ((e = field.unescaped_key().get(k)) || (e = field.value().get(v)))
			fail("field", line, e);
		if (k == "time") {
			if ((e = v.get_string().get(s)))
				fail("time", line, e);
			t->time_bytes += s.size();
		} else if (k == "durationMs") {
			if ((e = v.get_int64().get(ms)))
				fail("durationMs", line, e);
			t->dur_sum += ms;
		} else if (k == "properties") {
			ondemand::document pd;
			std::string_view dep;

			if ((e = v.get_string().get(s)) || s.size() > CHUNK)
				fail("properties", line, e ? e : CAPACITY);
			memcpy(inner, s.data(), s.size());
			e = props.iterate(inner, s.size(), s.size() + SIMDJSON_PADDING).get(pd);
			if (e || (e = pd.find_field_unordered("modelDeploymentName")
					  .get_string()
					  .get(dep)))
				fail("properties.modelDeploymentName", line, e);
			t->dep_bytes += dep.size();
		}
	}
	t->records++;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: simdjson_scan FILE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");

	if (!f) {
		fprintf(stderr, "simdjson_scan: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	size_t cap = 2 * CHUNK, have = 0;
	char *buf = static_cast<char *>(malloc(cap + SIMDJSON_PADDING));
	char *inner = static_cast<char *>(malloc(CHUNK + SIMDJSON_PADDING));
	ondemand::parser outer, props;
	totals t = {};
	bool eof = false;

	if (!buf || !inner)
		return 1;
	while (!eof || have) {
		if (!eof) {
			const size_t n = fread(buf + have, 1, cap - have, f);

			have += n;
			eof = n == 0;
		}
		char *p = buf, *end = buf + have;

		for (;;) {
			char *nl = static_cast<char *>(memchr(p, '\n', (size_t)(end - p)));

			if (!nl && !eof)
				break;
			char *le = nl ? nl : end;

			if (le > p)
				record(outer, props, inner, p, (size_t)(le - p), &t);
			p = nl ? nl + 1 : end;
			if (!nl)
				break;
		}
		have = (size_t)(end - p);
		memmove(buf, p, have);
		if (have == cap)
			fail("a line longer than the buffer", t.records + 1, CAPACITY);
	}
	fclose(f);
	printf("records %zu\ndeployment_bytes %zu\ntime_bytes %zu\nduration_ms_sum %lld\n",
	       t.records, t.dep_bytes, t.time_bytes, (long long)t.dur_sum);
	free(buf);
	free(inner);
	return 0;
}
