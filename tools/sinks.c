/*
 * tools/sinks.c - the sink filter and the sink settings' lifetime (tools/sinks.h), shared by
 * the config loader and the delivery thread.
 */
#include "sinks.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* @s in @list (any @s when the list is empty); deployment names compare as the config's
 * deployments: case-insensitively. A NULL @s is in no list that has entries. */
static bool listed(char *const *list, size_t n, const char *s, bool nocase)
{
	if (!n)
		return true;
	for (size_t k = 0; k < n; k++)
		if (s && (nocase ? strcasecmp(list[k], s) : strcmp(list[k], s)) == 0)
			return true;
	return false;
}

bool tl_sink_wants(const struct tl_sink *s, const struct tl_sink_event *ev)
{
	const struct tl_sink_filter *f = &s->filter;

	if (ev->severity > f->min_severity)
		return false;
	if (f->rules && (ev->rule >= 32 || !(f->rules & (UINT32_C(1) << ev->rule))))
		return false;
	if (!listed(f->deployments, f->n_deployments, ev->deployment, true))
		return false;
	/* owners: any of the people the event names (entries are never empty) */
	return listed(f->owners, f->n_owners, ev->owner, false) ||
	       listed(f->owners, f->n_owners, ev->incident_commander, false) ||
	       listed(f->owners, f->n_owners, ev->comms_owner, false);
}

/* memset that the compiler may not drop for a buffer about to be freed */
static void wipe(char *p)
{
	if (!p)
		return;
	for (volatile char *v = p; *v; v++)
		*v = '\0';
}

static void free_list(char **list, size_t n, bool secret)
{
	for (size_t k = 0; k < n; k++) {
		if (secret)
			wipe(list[k]);
		free(list[k]);
	}
	free(list);
}

void tl_sink_fini(struct tl_sink *s)
{
	if (!s)
		return;
	free(s->name);
	free_list(s->filter.deployments, s->filter.n_deployments, false);
	free_list(s->filter.owners, s->filter.n_owners, false);
	free(s->path);
	free(s->brokers);
	free(s->topic);
	/* librdkafka properties may hold credentials (sasl.password) */
	free_list(s->props, s->n_props, true);
	wipe(s->url);
	free(s->url);
	wipe(s->routing_key);
	free(s->routing_key);
	memset(s, 0, sizeof(*s));
}
