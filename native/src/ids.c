/*
 * Ids with a generation, for the ids the kernel keeps: node ids (nodes.c) and file handles
 * (handles.c). An id is (generation << 32) | slot: the slot indexes an array, so finding what an
 * id names is one index and one compare, and an id whose slot was freed (and perhaps taken again)
 * no longer matches the generation the slot holds, so it finds nothing. A slot's first id is the
 * slot number itself (generation 0): ids stay small, and the kernel's FUSE_ROOT_ID 1 is slot 1.
 * Unlike a pointer or a raw fd, an id means the same object in another process that rebuilds the
 * table slot by slot (issue 21's handover; docs/ARCHITECTURE.md, "FUSE session layer").
 *
 * The array grows in chunks that never move (chunk k holds ID_BASE << k slots), so a reader
 * needs no lock: it loads the chunk pointer and the slot's id with acquire, and the writer
 * (adding or removing, under the caller's lock) fills the pointer before it publishes the id.
 * A freed slot goes on a free list and its generation goes up by one; after 2^32 reuses of one
 * slot an id would come back, long after the kernel forgot the old one.
 */
#include "core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ID_SHIFT 10
#define ID_BASE (1u << ID_SHIFT)

/* The chunk slot s is in, and its place there: chunk k holds slots [ID_BASE*(2^k - 1), ID_BASE*(2^(k+1) - 1)). */
static unsigned chunk_of(uint32_t s, uint32_t *off) {
  uint64_t q = ((uint64_t)s >> ID_SHIFT) + 1;
  unsigned k = 63u - (unsigned)__builtin_clzll(q);
  *off = (uint32_t)((uint64_t)s - (((uint64_t)1 << k) - 1) * ID_BASE);
  return k;
}

static struct id_entry *entry_at(const struct id_table *t, uint32_t s) {
  uint32_t off;
  unsigned k = chunk_of(s, &off);
  if (k >= ID_CHUNKS) return NULL;
  struct id_entry *c = __atomic_load_n(&t->chunks[k], __ATOMIC_ACQUIRE);
  return c ? &c[off] : NULL;
}

void ids_init(struct id_table *t, uint32_t first) {
  memset(t, 0, sizeof *t);
  t->next = first ? first : 1; /* slot 0 is never handed out: id 0 names nothing */
}

void ids_destroy(struct id_table *t) {
  for (unsigned k = 0; k < ID_CHUNKS; k++) {
    free(t->chunks[k]);
    t->chunks[k] = NULL;
  }
}

uint64_t ids_add(struct id_table *t, void *ptr) {
  uint32_t s;
  struct id_entry *e;
  if (t->free) {
    s = t->free;
    e = entry_at(t, s);
    t->free = e->next;
  } else {
    if (t->next == UINT32_MAX) return 0;
    s = t->next;
    uint32_t off;
    unsigned k = chunk_of(s, &off);
    if (k >= ID_CHUNKS) return 0;
    if (!t->chunks[k]) {
      struct id_entry *c = calloc((size_t)ID_BASE << k, sizeof *c);
      if (!c) return 0;
      __atomic_store_n(&t->chunks[k], c, __ATOMIC_RELEASE);
    }
    e = &t->chunks[k][off];
    t->next++;
  }
  uint64_t id = (uint64_t)e->gen << 32 | s;
  __atomic_store_n(&e->ptr, ptr, __ATOMIC_RELAXED);
  __atomic_store_n(&e->id, id, __ATOMIC_RELEASE);
  t->live++;
  return id;
}

void *ids_get(const struct id_table *t, uint64_t id) {
  uint32_t s = (uint32_t)id;
  if (s == 0) return NULL;
  struct id_entry *e = entry_at(t, s);
  if (!e || __atomic_load_n(&e->id, __ATOMIC_ACQUIRE) != id) return NULL;
  void *ptr = __atomic_load_n(&e->ptr, __ATOMIC_ACQUIRE);
  /*
   * Checked again after the pointer: a remove and an add between the two loads (the slot taken
   * with the next generation) changed the id, so a pointer read in between is never returned
   * under the old id. The kernel never sends an id it has released, so this only guards.
   */
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  return __atomic_load_n(&e->id, __ATOMIC_RELAXED) == id ? ptr : NULL;
}

void ids_remove(struct id_table *t, uint64_t id) {
  uint32_t s = (uint32_t)id;
  struct id_entry *e = s ? entry_at(t, s) : NULL;
  if (!e || e->id != id) return;
  __atomic_store_n(&e->id, 0, __ATOMIC_RELEASE);
  __atomic_thread_fence(__ATOMIC_RELEASE); /* the id's change is seen before the pointer's (ids_get's second look) */
  __atomic_store_n(&e->ptr, NULL, __ATOMIC_RELAXED);
  e->gen++;
  e->next = t->free;
  t->free = s;
  t->live--;
}

void *ids_next(const struct id_table *t, uint32_t *slot, uint64_t *id) {
  for (uint32_t s = *slot; s < t->next; s++) {
    struct id_entry *e = entry_at(t, s);
    if (!e || !e->id) continue;
    *slot = s + 1;
    *id = e->id;
    return e->ptr;
  }
  *slot = t->next;
  return NULL;
}

/* Slot s's entry, its chunk allocated if need be (owner's lock held); NULL: out of memory or slots. */
static struct id_entry *entry_made(struct id_table *t, uint32_t s) {
  uint32_t off;
  unsigned k = chunk_of(s, &off);
  if (k >= ID_CHUNKS) return NULL;
  if (!t->chunks[k]) {
    struct id_entry *c = calloc((size_t)ID_BASE << k, sizeof *c);
    if (!c) return NULL;
    __atomic_store_n(&t->chunks[k], c, __ATOMIC_RELEASE);
  }
  return &t->chunks[k][off];
}

uint32_t ids_gen(const struct id_table *t, uint32_t slot) {
  struct id_entry *e = entry_at(t, slot);
  return e ? e->gen : 0;
}

/*
 * A table rebuilt slot by slot (issue 21's handover, handover.c): `id` names `ptr` again, at the
 * slot and with the generation it had in the process that handed it over; a NULL ptr records a
 * free slot's generation only (its next id). Then ids_seal. Owner's lock held.
 */
int ids_place(struct id_table *t, uint64_t id, void *ptr) {
  uint32_t s = (uint32_t)id;
  if (s == 0 || s == UINT32_MAX) return EINVAL;
  struct id_entry *e = entry_made(t, s);
  if (!e) return ENOMEM;
  if (e->id) return e->id == id && e->ptr == ptr ? 0 : EEXIST;
  e->gen = (uint32_t)(id >> 32);
  if (ptr) {
    __atomic_store_n(&e->ptr, ptr, __ATOMIC_RELAXED);
    __atomic_store_n(&e->id, id, __ATOMIC_RELEASE);
    t->live++;
  }
  if (s >= t->next) t->next = s + 1;
  return 0;
}

/*
 * After the ids_place calls: slots below `next` were handed out at least once; every one of them
 * that names nothing goes on the free list (with the generation it was given, 0 if none), so the
 * next ids_add reuses them as the old table would have.
 */
int ids_seal(struct id_table *t, uint32_t next) {
  if (next > t->next) t->next = next;
  t->free = 0;
  for (uint32_t s = t->next; s-- > 1;) {
    struct id_entry *e = entry_made(t, s);
    if (!e) return ENOMEM;
    if (e->id) continue;
    e->next = t->free;
    t->free = s;
  }
  return 0;
}
