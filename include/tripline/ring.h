/*
 * tripline/ring.h - a bounded single-producer/single-consumer queue of fixed-size items. A ring
 * joins one producer thread to one consumer thread; push never blocks or allocates, it
 * reports "full" and the caller waits or counts.
 */
#ifndef TL_RING_H
#define TL_RING_H
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <tripline/error.h>

/* Fields are private; the struct is public only so callers can embed it. */
struct tl_ring {
	alignas(64) _Atomic size_t head; /* written by the consumer only */
	alignas(64) _Atomic size_t tail; /* written by the producer only */
	alignas(64) size_t mask;         /* capacity - 1 */
	size_t item;                     /* bytes per item */
	unsigned char *slots;
};

/**
 * tl_ring_init() - a ring of @capacity items of @item bytes.
 * @capacity: a power of two >= 2.
 * Return: 0, -EINVAL for a bad capacity, -ENOMEM.
 * Thread: any, before the ring is handed to its two threads.
 */
TL_MUST_CHECK int tl_ring_init(struct tl_ring *r, size_t capacity, size_t item);
/** tl_ring_fini() - free the slots; a zeroed ring is fine. */
void tl_ring_fini(struct tl_ring *r);
/** tl_ring_push_spsc() - copy @item in. Return: false if full. Thread: the producer. */
bool tl_ring_push_spsc(struct tl_ring *r, const void *item);
/** tl_ring_pop_spsc() - move the oldest item to @ret_item. Return: false if empty.
 * Thread: the consumer. */
bool tl_ring_pop_spsc(struct tl_ring *r, void *ret_item);
/** tl_ring_count() - items waiting, as seen at one moment (for gauges; it may be stale by the
 * time it is read). Thread: any. */
size_t tl_ring_count(const struct tl_ring *r);

#endif /* TL_RING_H */
