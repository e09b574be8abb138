/*
 * tests/test_buf.c - the JSON text helpers every output uses (detect/buf.c): numbers as JSON
 * numbers however large, strings escaped.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/buf.h>

static char *num(double v)
{
	static char out[128];
	struct tl_buf b = { 0 };

	tl_buf_json_num(&b, v);
	cr_assert(tl_buf_ok(&b));
	cr_assert(lt(sz, b.n, sizeof(out)));
	memcpy(out, b.p, b.n);
	out[b.n] = '\0';
	tl_buf_fini(&b);
	return out;
}

Test(buf, numbers_are_json_numbers_at_any_size)
{
	cr_assert(eq(str, num(3), "3.0"));
	cr_assert(eq(str, num(-2.5), "-2.5"));
	cr_assert(eq(str, num(0.1234567), "0.123457"));
	cr_assert(eq(str, num(1.0 / 0.0), "0.0"), "not finite: 0");
	/* past int64 and past what %f fits in 64 bytes: no undefined conversion, no overrun */
	cr_assert(eq(str, num(1e300), "1.0000000000000001e+300"));
	cr_assert(eq(str, num(-9.3e18), "-9.3e+18"));
	cr_assert(eq(str, num(1e15), "1000000000000000"));
}

Test(buf, strings_are_escaped)
{
	struct tl_buf b = { 0 };

	tl_buf_json_str(&b, "a\"b\\c\n\x01", 7);
	cr_assert(tl_buf_ok(&b));
	cr_assert(eq(int, (int)b.n, (int)strlen("\"a\\\"b\\\\c\\n\\u0001\"")));
	cr_assert(eq(int, memcmp(b.p, "\"a\\\"b\\\\c\\n\\u0001\"", b.n), 0));
	tl_buf_fini(&b);
}
