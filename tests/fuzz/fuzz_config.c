/*
 * tests/fuzz/fuzz_config.c - fuzz the YAML configuration loader (tools/config.c), `sinks:`
 * included. The input bytes are one config file. Invariants: the load ends (secrets are
 * read from regular files only, so no FIFO or device holds it); a refusal names the file
 * and a line ("PATH:N: ..."); a config that loads gives engine options and frees cleanly;
 * every sink that loads satisfies what delivery relies on (a name of the allowed
 * characters, a webhook with an http(s) URL, backoffs in order).
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tl_config c;
	struct tl_engine_opts eo;
	char err[600] = "";
	FILE *f;

	if (!path[0]) {
		int fd;

		(void)snprintf(path, sizeof(path), "/tmp/tl-fuzz-config-XXXXXX");
		fd = mkstemp(path);
		FUZZ_CHECK(fd >= 0);
		close(fd);
	}
	f = fopen(path, "wb");
	FUZZ_CHECK(f);
	FUZZ_CHECK(fwrite(data, 1, size, f) == size);
	FUZZ_CHECK(fclose(f) == 0);
	int r = tl_config_load(path, &c, err, sizeof(err));

	if (r < 0) {
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0);
	} else {
		tl_config_engine_opts(&c, &eo);
		FUZZ_CHECK(eo.rules == &c.rules);
		for (size_t i = 0; i < c.n_sinks; i++) {
			const struct tl_sink *s = &c.sinks[i];
			const size_t n = strlen(s->name);

			FUZZ_CHECK(n >= 1 && n <= 64);
			FUZZ_CHECK(strspn(s->name,
					  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					  "0123456789_.-") == n);
			if (s->kind == TL_SINK_WEBHOOK)
				FUZZ_CHECK(s->url && (strncmp(s->url, "http://", 7) == 0 ||
						      strncmp(s->url, "https://", 8) == 0));
			FUZZ_CHECK(s->retry_initial_ns <= s->retry_max_ns);
			FUZZ_CHECK(s->filter.min_severity <= 4);
		}
	}
	tl_config_free(&c);
	return 0;
}
