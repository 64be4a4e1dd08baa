/*
 * The virtual clock and real I/O: time moves (and a settling thread
 * wakes) only once every G is blocked, which includes a reader that
 * epoll has just found ready but whose M has not yet handed it on.
 */
#include <sys/socket.h>
#include <unistd.h>

#include "net_test.h"
#include "../../libsched/src/testing.h" /* gort__test_settle */

static gnet_conn *va, *vb;
static atomic_int vgot;

static void v_reader(void *arg)
{
    char buf[16];
    (void)arg;
    if (gnet_read(vb, buf, sizeof buf, NULL) == 1)
        atomic_store(&vgot, 1);
}

static void v_writer(void *arg)
{
    (void)arg;
    gnet_write(va, "x", 1, NULL);
}

/* Each round: a reader parks, a writer wakes it through epoll, and
 * settle must not return before the reader has run. Returns how many
 * rounds settle returned early in. */
static int settle_rounds(int procs)
{
    gort_config cfg;
    int sv[2], late = 0;

    memset(&cfg, 0, sizeof cfg);
    cfg.procs = procs;
    cfg.virtual_clock = true;
    CHECK_EQ(gnet_start(&cfg), 0);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    CHECK_EQ(gnet_file_new(sv[0], "a", &va, NULL), 0);
    CHECK_EQ(gnet_file_new(sv[1], "b", &vb, NULL), 0);

    for (int i = 0; i < 500; i++) {
        atomic_store(&vgot, 0);
        CHECK_EQ(gort_go(v_reader, NULL), 0);
        CHECK_EQ(gort__test_settle(), 0); /* the reader is parked */
        CHECK_EQ(gort_go(v_writer, NULL), 0);
        CHECK_EQ(gort__test_settle(), 0); /* so it has run */
        if (!atomic_load(&vgot)) {
            late++;
            while (!atomic_load(&vgot))
                usleep(100);
        }
    }
    gnet_conn_free(va);
    gnet_conn_free(vb);
    gort_stop();
    return late;
}

/* Also covers an M that found the poller busy and gave up its P
 * without polling, and a poller M that came back with Gs but no P
 * (the idle Ms had left time to it). */
TEST(settle_waits_for_a_reader_woken_by_io)
{
    CHECK_EQ(settle_rounds(1), 0);
}

TEST(settle_waits_for_a_reader_woken_by_io_on_two_ps)
{
    CHECK_EQ(settle_rounds(2), 0);
}
