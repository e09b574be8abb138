/*
 * tripline/event.h - the normalized event model: what every decoder produces and the
 * detector consumes.
 *
 * A struct tl_event is fixed-size and holds no pointers to strings: names are symbols
 * (see tripline/symtab.h), so events can be copied through rings. The only reference it
 * keeps is to its raw record bytes, borrowed from a refcounted struct tl_batch, so evidence
 * can be kept without re-reading input.
 *
 * A series is (resource, deployment). `resource` is the last segment of the Azure resource
 * ID in upper case; `deployment` compares case-insensitively (Azure names do) and keeps the
 * spelling of its first record for display. Model, model version and prompt version are
 * attributes that change over time, never part of the key.
 */
#ifndef TL_EVENT_H
#define TL_EVENT_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum tl_event_kind {
	TL_EV_REQUEST = 1, /* one request to a deployment (RequestResponse, GatewayLogs, native) */
	TL_EV_USAGE = 2,   /* token usage logged apart from its request (APIM GatewayLlmLogs) */
	TL_EV_METRIC = 3,  /* one platform metric row (AllMetrics), account level */
	TL_EV_CHANGE = 4,  /* a control-plane change (Activity Log) */
};

/* Which decoder made the event. */
enum tl_origin {
	TL_ORIGIN_AOAI_REQUEST = 1, /* AOAI RequestResponse */
	TL_ORIGIN_AOAI_METRIC = 2,  /* AOAI AllMetrics */
	TL_ORIGIN_APIM_GATEWAY = 3, /* APIM GatewayLogs */
	TL_ORIGIN_APIM_LLM = 4,     /* APIM GatewayLlmLogs */
	TL_ORIGIN_ACTIVITY = 5,     /* Activity Log */
	TL_ORIGIN_NATIVE = 6,       /* "category":"tripline" */
	TL_ORIGIN_COUNT_
};

/* tl_event.flags */
enum {
	TL_EVF_LATENCY = 1u << 0,           /* req.latency_ms is known */
	TL_EVF_STREAMING = 1u << 1,         /* a streamed completion */
	TL_EVF_GUARDRAIL_CHECKED = 1u << 2, /* the record tells whether a guardrail fired */
	TL_EVF_GUARDRAIL_FAILED = 1u << 3,  /* content filter / guardrail blocked or filtered */
	TL_EVF_REFUSAL_CHECKED = 1u << 4,   /* the record tells whether the model refused */
	TL_EVF_REFUSAL = 1u << 5,           /* the model refused (message.refusal) */
	TL_EVF_TOKENS = 1u << 6,            /* req.tokens_* are known */
	TL_EVF_LATENCY_FIXED = 1u << 7,     /* latency recomputed from request/response ticks */
};

/* Platform metrics tripline reads (AllMetrics rows; names are Azure's REST names). */
enum tl_metric {
	TL_METRIC_REQUESTS = 1,       /* AzureOpenAIRequests */
	TL_METRIC_PROMPT_TOKENS,      /* ProcessedPromptTokens */
	TL_METRIC_GENERATED_TOKENS,   /* GeneratedTokens */
	TL_METRIC_TOKEN_TRANSACTION,  /* TokenTransaction */
	TL_METRIC_ACTIVE_TOKENS,      /* ActiveTokens */
	TL_METRIC_RAI_REJECTED,       /* RAIRejectedRequests */
	TL_METRIC_RAI_HARMFUL,        /* RAIHarmfulRequests */
	TL_METRIC_RAI_TOTAL,          /* RAITotalRequests */
	TL_METRIC_TIME_TO_RESPONSE,   /* AzureOpenAITimeToResponse (ms) */
	TL_METRIC_TIME_TO_LAST_BYTE,  /* AzureOpenAITTLTInMS (ms) */
	TL_METRIC_TIME_TO_FIRST_BYTE, /* AzureOpenAINormalizedTTFTInMS (ms) */
	TL_METRIC_COUNT_
};

enum tl_change_op {
	TL_CHANGE_DEPLOYMENT_WRITE = 1, /* .../accounts/deployments/write */
	TL_CHANGE_DEPLOYMENT_DELETE,    /* .../accounts/deployments/delete */
	TL_CHANGE_RAI_POLICY_WRITE,     /* .../accounts/raiPolicies/write */
	TL_CHANGE_ACCOUNT_WRITE,        /* .../accounts/write */
	TL_CHANGE_OP_COUNT_
};

enum tl_change_phase {
	TL_PHASE_START = 1, /* resultType Start */
	TL_PHASE_ACCEPT,    /* Accept */
	TL_PHASE_SUCCESS,   /* Success */
	TL_PHASE_FAILURE,   /* Failure */
	TL_PHASE_COUNT_
};

/*
 * A block of raw input bytes shared by the events decoded from it. The reader allocates it,
 * each holder of a pointer into it holds a reference.
 */
struct tl_batch {
	_Atomic uint32_t refs;
	uint32_t input; /* index of the input (file, partition) it came from */
	size_t len;     /* bytes of data[] in use */
	size_t cap;     /* bytes of data[] for input; TL_UNIT_PADDING more follow them */
	unsigned char data[];
};

/* Where an event's raw record is, in its input and in memory. */
struct tl_rawref {
	const unsigned char *ptr; /* into batch->data, valid while the batch is referenced */
	struct tl_batch *batch;   /* NULL when the caller guarantees the bytes outlive the event */
	uint64_t offset;          /* byte offset of the record in its input (decompressed) */
	uint32_t len;
	uint32_t input;
};

struct tl_event {
	int64_t time_ns;      /* event time */
	uint64_t series;      /* series key: tl_series_key(resource, deployment) */
	uint64_t fingerprint; /* duplicate key (category, correlation id, time); 0 = none */
	uint64_t usage_key;   /* the request whose tokens this event carries (series and
			       * correlation id): tokens count once per request even when gateway
			       * bodies and GatewayLlmLogs both report them; 0 = none */
	uint32_t resource;    /* symbols; 0 = absent */
	uint32_t deployment;
	uint32_t model;
	uint32_t model_version;
	uint32_t prompt_version;
	uint32_t operation;
	uint16_t status; /* HTTP status, 0 = unknown */
	uint8_t kind;    /* enum tl_event_kind */
	uint8_t origin;  /* enum tl_origin */
	uint16_t flags;  /* TL_EVF_* */
	uint16_t reserved;
	union {
		struct {
			float latency_ms;
			uint32_t tokens_in; /* prompt tokens, cached ones included */
			uint32_t tokens_out;
			uint32_t tokens_cached;
		} req; /* TL_EV_REQUEST, TL_EV_USAGE */
		struct {
			double total;
			double count;
			uint16_t metric; /* enum tl_metric */
		} metric;                /* TL_EV_METRIC */
		struct {
			uint64_t
			    correlation; /* hash of the correlation id: pairs Start with Success */
			uint32_t detail; /* symbol: RAI policy name, SKU, ... (0 = none) */
			uint8_t op;      /* enum tl_change_op */
			uint8_t phase;   /* enum tl_change_phase */
		} change;                /* TL_EV_CHANGE */
	} u;
	struct tl_rawref raw;
};

/** tl_status_class() - 2, 4, 5 for 2xx/4xx/5xx, 29 for 429, 0 otherwise. */
static inline int tl_status_class(uint16_t status)
{
	if (status == 429)
		return 29;
	if (status >= 200 && status < 600)
		return status / 100;
	return 0;
}

#endif /* TL_EVENT_H */
