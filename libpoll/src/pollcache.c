/*
 * pollcache.c: where pollDescs live.
 *
 * Descriptors are carved out of blocks of about 4 KiB obtained with
 * mmap and linked into a singly linked free list under one mutex. The
 * cache grows a block at a time when the list runs dry and never gives
 * memory back: an epoll event or a deadline timer may still hold a
 * pointer to a descriptor long after its fd was closed, and it must
 * find valid memory there whose fd sequence (or rseq/wseq) tells it the
 * news is stale. Reuse is last in, first out, so a freshly closed
 * descriptor is the next one handed out; the tests rely on that to
 * exercise stale events and timers.
 *
 * Rejected: malloc/free, because a freed descriptor could be handed to
 * another allocation and a late event would then write into it.
 */
#include <errno.h>
#include <sys/mman.h>

#include "netpoll.h"

static struct {
    gpoll__mutex lock;
    gpoll_desc *first; /* free list; under lock */
    int64_t in_use;    /* under lock */
    int64_t free;      /* under lock */
    int64_t blocks;    /* under lock */
} pollcache;

int gpoll__cache_per_block(void)
{
    int n = (int)(GPOLL__BLOCK_SIZE / sizeof(gpoll_desc));

    return n > 0 ? n : 1;
}

/* Maps one block and threads its descriptors onto the free list. Called
 * with pollcache.lock held. */
static int grow(void)
{
    int n = gpoll__cache_per_block();
    size_t size = (size_t)n * sizeof(gpoll_desc);
    char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (mem == MAP_FAILED)
        return -ENOMEM;

    /* The tagged pointers that carry a descriptor through epoll keep
     * only GPOLL__ADDR_BITS of address. */
    GPOLL__CHECK(((uintptr_t)mem + size) >> GPOLL__ADDR_BITS == 0,
                 "pollDesc address does not fit a tagged pointer");

    /* mmap memory is zeroed: unlocked mutexes, nil semaphores. */
    for (int i = n - 1; i >= 0; i--) {
        gpoll_desc *pd = (gpoll_desc *)(mem + (size_t)i * sizeof(*pd));
        pd->link = pollcache.first;
        pollcache.first = pd;
    }
    pollcache.free += n;
    pollcache.blocks++;
    return 0;
}

gpoll_desc *gpoll__cache_alloc(void)
{
    gpoll_desc *pd = NULL;

    gpoll__lock(&pollcache.lock);
    if (pollcache.first == NULL && grow() < 0)
        goto unlock;
    pd = pollcache.first;
    pollcache.first = pd->link;
    pd->link = NULL;
    pollcache.free--;
    pollcache.in_use++;
unlock:
    gpoll__unlock(&pollcache.lock);
    return pd;
}

void gpoll__cache_free(gpoll_desc *pd)
{
    uintptr_t seq;

    /* Nobody else should hold pd now, but the info bits are only ever
     * published under its lock. Moving to the next fd sequence makes a
     * netpoll already holding an event for this registration drop it. */
    gpoll__lock(&pd->lock);
    seq = (atomic_load(&pd->fdseq) + 1) & GPOLL__TAG_MASK;
    atomic_store(&pd->fdseq, seq);
    gpoll__publish_info(pd);
    gpoll__unlock(&pd->lock);

    gpoll__lock(&pollcache.lock);
    pd->link = pollcache.first;
    pollcache.first = pd;
    pollcache.in_use--;
    pollcache.free++;
    gpoll__unlock(&pollcache.lock);
}

void gpoll_cache_inspect(gpoll_cache_stats *st)
{
    if (st == NULL)
        return;
    gpoll__lock(&pollcache.lock);
    st->in_use = pollcache.in_use;
    st->free = pollcache.free;
    st->blocks = pollcache.blocks;
    gpoll__unlock(&pollcache.lock);
}
