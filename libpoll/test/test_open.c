/*
 * test_open.c: install, open, unblock and close.
 */
#include <sys/epoll.h>

#include "poll_test.h"

TEST(install_is_idempotent)
{
    int epfd;

    CHECK_EQ(gpoll_install(), 0);
    epfd = gpoll__epfd();
    CHECK_GE(epfd, 0);
    CHECK_EQ(gpoll_install(), 0);
    CHECK_EQ(gpoll__epfd(), epfd);
    /* Close-on-exec, both of them. */
    CHECK(fcntl(epfd, F_GETFD) & FD_CLOEXEC);
    CHECK(fcntl(gpoll__break_fd(), F_GETFD) & FD_CLOEXEC);
    CHECK(fcntl(gpoll__break_fd(), F_GETFL) & O_NONBLOCK);
}

static void install_again_body(void *arg)
{
    (void)arg;
    /* The runtime already runs with this poller: nothing to change. */
    CHECK_EQ(gpoll_install(), 0);
}

TEST(install_while_running_with_poller)
{
    run_main(install_again_body, NULL, 1, true);
    /* And a later runtime can have it again. */
    run_main(install_again_body, NULL, 1, true);
}

TEST(poll_descriptors_are_recognised)
{
    int fds[2];

    CHECK(!gpoll_is_poll_descriptor(0));
    CHECK_EQ(gpoll_install(), 0);
    make_pipe(fds);
    CHECK(gpoll_is_poll_descriptor(gpoll__epfd()));
    CHECK(gpoll_is_poll_descriptor(gpoll__break_fd()));
    CHECK(!gpoll_is_poll_descriptor(fds[0]));
    CHECK(!gpoll_is_poll_descriptor(fds[1]));
    CHECK(!gpoll_is_poll_descriptor(-1));
}

TEST(open_initialises_poller_lazily)
{
    int fds[2];

    CHECK_EQ(gpoll__epfd(), -1);
    make_pipe(fds);
    open_pd(fds[0]);
    CHECK_GE(gpoll__epfd(), 0);
}

TEST(open_fresh_descriptor_state)
{
    int fds[2];
    gpoll_desc *pd;
    gpoll_state st;
    gpoll_cache_stats cs;

    make_pipe(fds);
    pd = open_pd(fds[0]);
    st = inspect(pd);
    CHECK_EQ(st.fd, fds[0]);
    CHECK_EQ(st.fdseq, 1);
    CHECK_EQ(st.info, 1u << GPOLL_INFO_FDSEQ_SHIFT);
    CHECK_EQ(st.rg, GPOLL_SEM_NIL);
    CHECK_EQ(st.wg, GPOLL_SEM_NIL);
    CHECK(st.rg_g == NULL && st.wg_g == NULL);
    CHECK(!st.closing);
    CHECK_EQ(st.rseq, 1);
    CHECK_EQ(st.wseq, 1);
    CHECK_EQ(st.rd, 0);
    CHECK_EQ(st.wd, 0);
    CHECK(!st.rt_set && !st.wt_set);
    gpoll_cache_inspect(&cs);
    CHECK_EQ(cs.in_use, 1);
}

/* The events and data epoll holds for fd, from the epoll fd's fdinfo.
 * epoll_ctl adds EPOLLERR | EPOLLHUP to every registration itself. */
static bool registration(int fd, uint32_t *events, uint64_t *data)
{
    char path[64], line[256];
    bool found = false;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", gpoll__epfd());
    f = fopen(path, "r");
    CHECK(f != NULL);
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        int tfd;
        unsigned int ev;
        unsigned long long d;
        if (sscanf(line, "tfd: %d events: %x data: %llx", &tfd, &ev, &d) == 3 &&
            tfd == fd) {
            *events = ev;
            *data = d;
            found = true;
        }
    }
    fclose(f);
    return found;
}

TEST(open_registers_edge_triggered_for_in_out_rdhup)
{
    int fds[2];
    gpoll_desc *pd;
    struct epoll_event ev = {0};
    uint32_t events;
    uint64_t data;

    make_pipe(fds);
    pd = open_pd(fds[0]);
    CHECK(registration(fds[0], &events, &data));
    CHECK_EQ(events,
             EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET | EPOLLERR | EPOLLHUP);
    CHECK_EQ(data, gpoll__tag_pack(pd, inspect(pd).fdseq));
    /* The break fd: level-triggered, input only. */
    CHECK(registration(gpoll__break_fd(), &events, &data));
    CHECK_EQ(events, EPOLLIN | EPOLLERR | EPOLLHUP);
    CHECK_EQ(data, GPOLL__BREAK_DATA);
    /* Registered once: a second add is refused as a duplicate, and a
     * modify shows the registration exists. */
    ev.events = EPOLLIN;
    CHECK_EQ(epoll_ctl(gpoll__epfd(), EPOLL_CTL_ADD, fds[0], &ev), -1);
    CHECK_EQ(errno, EEXIST);

    /* Edge-triggered: one write is one event, however often we poll. */
    put_byte(fds[1]);
    {
        struct epoll_event evs[4];
        int n = epoll_wait(gpoll__epfd(), evs, 4, 1000);
        int got = 0;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == GPOLL__BREAK_DATA)
                continue;
            got++;
            CHECK(gpoll__tag_pointer(evs[i].data.u64) == pd);
            CHECK_EQ(gpoll__tag_value(evs[i].data.u64), 1);
            CHECK(evs[i].events & EPOLLIN);
        }
        CHECK_EQ(got, 1);
        n = epoll_wait(gpoll__epfd(), evs, 4, 0);
        CHECK_EQ(n, 0);
    }
}

TEST(open_bad_fd_fails)
{
    gpoll_desc *pd = NULL;
    gpoll_cache_stats cs;

    CHECK_EQ(gpoll_open(-1, &pd), -EBADF);
    CHECK(pd == NULL);
    gpoll_cache_inspect(&cs);
    CHECK_EQ(cs.in_use, 0);
}

TEST(open_forgets_old_ready_notification)
{
    int fds[2];
    gpoll_desc *pd;

    make_pipe(fds);
    pd = open_pd(fds[0]);
    /* A notification pending when the fd was closed belongs to the old
     * fd; the next user must not see it. */
    atomic_store(&pd->rg, GPOLL__PD_READY);
    atomic_store(&pd->wg, GPOLL__PD_READY);
    gpoll_unblock(pd);
    gpoll_close(pd);
    CHECK(open_pd(fds[0]) == pd);
    CHECK_EQ(sem_state(pd, GPOLL_READ), GPOLL_SEM_NIL);
    CHECK_EQ(sem_state(pd, GPOLL_WRITE), GPOLL_SEM_NIL);
}

TEST(open_clears_event_error)
{
    int fds[2];
    gpoll_desc *pd;

    make_pipe(fds);
    pd = open_pd(fds[0]);
    gpoll__set_event_err(pd, true, 0);
    CHECK(inspect(pd).info & GPOLL_INFO_EVENT_ERR);
    gpoll_unblock(pd);
    gpoll_close(pd);
    CHECK(open_pd(fds[0]) == pd);
    CHECK(!(inspect(pd).info & GPOLL_INFO_EVENT_ERR));
}

TEST(unblock_marks_closing_and_bumps_sequences)
{
    int fds[2];
    gpoll_desc *pd;
    gpoll_state before, after;

    make_pipe(fds);
    pd = open_pd(fds[0]);
    before = inspect(pd);
    gpoll_unblock(pd);
    after = inspect(pd);
    CHECK(after.closing);
    CHECK(after.info & GPOLL_INFO_CLOSING);
    CHECK_EQ(after.rseq, before.rseq + 1);
    CHECK_EQ(after.wseq, before.wseq + 1);
    CHECK_EQ(after.fdseq, before.fdseq);
    CHECK_EQ(gpoll_reset(pd, GPOLL_READ), GPOLL_ERR_CLOSING);
    CHECK_EQ(gpoll_reset(pd, GPOLL_WRITE), GPOLL_ERR_CLOSING);
}

TEST(unblock_twice_aborts)
{
    int fds[2];
    gpoll_desc *pd;

    make_pipe(fds);
    pd = open_pd(fds[0]);
    gpoll_unblock(pd);
    gpoll_unblock(pd);
}

TEST(close_without_unblock_aborts)
{
    int fds[2];
    gpoll_desc *pd;

    make_pipe(fds);
    pd = open_pd(fds[0]);
    gpoll_close(pd);
}

TEST(close_with_parked_reader_aborts)
{
    int fds[2];
    gpoll_desc *pd;

    make_pipe(fds);
    pd = open_pd(fds[0]);
    gpoll_unblock(pd);
    /* Forge what a lost wake-up would leave: a G still in rg. */
    atomic_store(&pd->rg, (uintptr_t)0x1000);
    gpoll_close(pd);
}

TEST(close_deregisters_and_bumps_fdseq)
{
    int fds[2];
    gpoll_desc *pd;
    struct epoll_event ev = {0};
    uintptr_t seq;
    gpoll_cache_stats cs;

    make_pipe(fds);
    pd = open_pd(fds[0]);
    seq = inspect(pd).fdseq;
    gpoll_unblock(pd);
    gpoll_close(pd);
    CHECK_EQ(epoll_ctl(gpoll__epfd(), EPOLL_CTL_DEL, fds[0], &ev), -1);
    CHECK_EQ(errno, ENOENT);
    CHECK_EQ(inspect(pd).fdseq, seq + 1);
    /* The info bits follow the new sequence; closing stays set until
     * the descriptor is opened again. */
    CHECK_EQ(inspect(pd).info,
             GPOLL_INFO_CLOSING |
                 ((uint32_t)(seq + 1) << GPOLL_INFO_FDSEQ_SHIFT));
    gpoll_cache_inspect(&cs);
    CHECK_EQ(cs.in_use, 0);
}

TEST(close_after_fd_already_closed)
{
    int fds[2];
    gpoll_desc *pd;
    gpoll_cache_stats cs;

    make_pipe(fds);
    pd = open_pd(fds[0]);
    gpoll_unblock(pd);
    /* Closing the fd first drops it from epoll; close must cope. */
    close(fds[0]);
    gpoll_close(pd);
    gpoll_cache_inspect(&cs);
    CHECK_EQ(cs.in_use, 0);
}
