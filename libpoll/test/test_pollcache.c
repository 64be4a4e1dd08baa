/*
 * test_pollcache.c: where descriptors come from and go back to.
 */
#include <sys/mman.h>

#include "poll_test.h"

TEST(cache_grows_one_block_at_a_time)
{
    int per = gpoll__cache_per_block();
    int n = per + 1;
    int fds[2 * (GPOLL__BLOCK_SIZE / 64) + 4];
    gpoll_desc *pds[GPOLL__BLOCK_SIZE / 64 + 2];
    gpoll_cache_stats st;

    CHECK_GE(per, 1);
    CHECK_LE(n, (int)(sizeof(pds) / sizeof(pds[0])));
    gpoll_cache_inspect(&st);
    CHECK_EQ(st.blocks, 0);
    CHECK_EQ(st.in_use, 0);
    CHECK_EQ(st.free, 0);

    /* The first open maps one block; the block's last descriptor is
     * still the only block's; one more needs a second block. */
    for (int i = 0; i < n; i++) {
        make_pipe(&fds[2 * i]);
        pds[i] = open_pd(fds[2 * i]);
        gpoll_cache_inspect(&st);
        CHECK_EQ(st.in_use, i + 1);
        CHECK_EQ(st.blocks, i < per ? 1 : 2);
        CHECK_EQ(st.free, st.blocks * per - (i + 1));
    }

    for (int i = 0; i < n; i++) {
        close_pd(pds[i], fds[2 * i]);
        close(fds[2 * i + 1]);
    }
    gpoll_cache_inspect(&st);
    CHECK_EQ(st.in_use, 0);
    CHECK_EQ(st.free, 2 * per);
    CHECK_EQ(st.blocks, 2);
}

TEST(cache_descriptors_share_no_memory)
{
    int per = gpoll__cache_per_block();
    gpoll_desc *pds[GPOLL__BLOCK_SIZE / 64 + 2];
    int fds[2];

    make_pipe(fds);
    for (int i = 0; i < per + 1; i++)
        pds[i] = open_pd(dup(fds[0]));
    for (int i = 0; i < per + 1; i++) {
        uintptr_t a = (uintptr_t)pds[i];
        CHECK_EQ(a % _Alignof(gpoll_desc), 0);
        for (int j = 0; j < i; j++) {
            uintptr_t b = (uintptr_t)pds[j];
            CHECK(a + sizeof(gpoll_desc) <= b || b + sizeof(gpoll_desc) <= a);
        }
    }
}

TEST(cache_reuses_last_freed_descriptor)
{
    int fds[2];
    gpoll_desc *pd, *again;
    gpoll_state before, after;
    gpoll_cache_stats st;

    make_pipe(fds);
    pd = open_pd(fds[0]);
    before = inspect(pd);
    gpoll_unblock(pd);
    gpoll_close(pd);

    gpoll_cache_inspect(&st);
    CHECK_EQ(st.in_use, 0);

    again = open_pd(fds[0]);
    CHECK(again == pd);
    after = inspect(again);
    /* Freeing moved the fd sequence on; unblock and open each moved the
     * timer sequences on. */
    CHECK_EQ(after.fdseq, before.fdseq + 1);
    CHECK_EQ(after.rseq, before.rseq + 2);
    CHECK_EQ(after.wseq, before.wseq + 2);
    CHECK(!after.closing);
    CHECK_EQ(after.info, (uint32_t)after.fdseq << GPOLL_INFO_FDSEQ_SHIFT);
}

TEST(cache_fdseq_wraps_past_zero)
{
    int fds[2];
    gpoll_desc *pd;

    make_pipe(fds);
    pd = open_pd(fds[0]);
    gpoll_unblock(pd);
    /* Push the sequence to the top of the tag; the next free wraps it
     * to 0, which open must not use (0 disables the event-error
     * sequence check). */
    atomic_store(&pd->fdseq, (uintptr_t)GPOLL__TAG_MASK);
    gpoll_close(pd);
    CHECK_EQ(inspect(pd).fdseq, 0);
    CHECK(open_pd(fds[0]) == pd);
    CHECK_EQ(inspect(pd).fdseq, 1);
    CHECK_EQ((inspect(pd).info >> GPOLL_INFO_FDSEQ_SHIFT) &
                 GPOLL_INFO_FDSEQ_MASK,
             1);
}

TEST(cache_failed_open_returns_descriptor)
{
    gpoll_cache_stats st;
    gpoll_desc *pd = NULL;
    /* A memfd is a regular file without a poll method. */
    int fd = memfd_create("gpoll-regular", MFD_CLOEXEC);

    CHECK_GE(fd, 0);
    /* epoll refuses regular files: not pollable. */
    CHECK_EQ(gpoll_open(fd, &pd), -EPERM);
    CHECK(pd == NULL);
    gpoll_cache_inspect(&st);
    CHECK_EQ(st.in_use, 0);
    CHECK_EQ(st.free, st.blocks * gpoll__cache_per_block());
    close(fd);
}

TEST(tagged_pointer_round_trips)
{
    int fds[2];
    gpoll_desc *pd;
    uint64_t tp;

    make_pipe(fds);
    pd = open_pd(fds[0]);
    for (uintptr_t tag = 0; tag <= GPOLL__TAG_MASK; tag += 4099) {
        tp = gpoll__tag_pack(pd, tag);
        CHECK(gpoll__tag_pointer(tp) == pd);
        CHECK_EQ(gpoll__tag_value(tp), tag);
    }
    tp = gpoll__tag_pack(pd, GPOLL__TAG_MASK);
    CHECK(gpoll__tag_pointer(tp) == pd);
    CHECK_EQ(gpoll__tag_value(tp), GPOLL__TAG_MASK);
    /* Tags wider than the mask lose their high bits, not the pointer. */
    tp = gpoll__tag_pack(pd, GPOLL__TAG_MASK + 2);
    CHECK(gpoll__tag_pointer(tp) == pd);
    CHECK_EQ(gpoll__tag_value(tp), 1);
    /* A tagged pointer is never the break fd's marker. */
    CHECK_NE(gpoll__tag_pack(pd, 0), GPOLL__BREAK_DATA);
    CHECK_EQ(GPOLL__TAG_BITS, 19);
}
