/*
 * detect/ring.c - the SPSC ring (see tripline/ring.h). head and tail only grow; an index is
 * taken modulo the capacity when a slot is touched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/ring.h>

int tl_ring_init(struct tl_ring *r, size_t capacity, size_t item)
{
	if (capacity < 2 || (capacity & (capacity - 1)) || item == 0)
		return -EINVAL;
	r->slots = malloc(capacity * item);
	if (!r->slots)
		return -ENOMEM;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	r->mask = capacity - 1;
	r->item = item;
	return 0;
}

void tl_ring_fini(struct tl_ring *r)
{
	free(r->slots);
	r->slots = NULL;
}

bool tl_ring_push_spsc(struct tl_ring *r, const void *item)
{
	const size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	/* Acquire pairs with the consumer's release of head: the slot is free to reuse. */
	const size_t head = atomic_load_explicit(&r->head, memory_order_acquire);

	if (tail - head > r->mask)
		return false;
	memcpy(r->slots + (tail & r->mask) * r->item, item, r->item);
	/* Release publishes the slot's contents before the new tail. */
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return true;
}

bool tl_ring_pop_spsc(struct tl_ring *r, void *ret_item)
{
	const size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	/* Acquire pairs with the producer's release of tail: the slot's contents are visible. */
	const size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

	if (head == tail)
		return false;
	memcpy(ret_item, r->slots + (head & r->mask) * r->item, r->item);
	/* Release hands the slot back only after it has been read. */
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	return true;
}

size_t tl_ring_count(const struct tl_ring *r)
{
	/* head first: a tail read after it is never behind it */
	const size_t head = atomic_load_explicit(&r->head, memory_order_acquire);

	return atomic_load_explicit(&r->tail, memory_order_acquire) - head;
}
