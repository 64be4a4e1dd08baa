/*
 * echo_server: writes back whatever each connection sends.
 *
 *     echo_server [-l 127.0.0.1:7000] [-p PROCS] [-r READ_TIMEOUT_S] [-R]
 *
 * One goroutine per connection; a connection idle for the read timeout
 * is closed. SIGINT or SIGTERM closes the listener and every
 * connection, and the program exits once all conn goroutines are done.
 */
#include "serve.h"

#define BUF_SIZE (16 * 1024)

static void echo(gnet_conn *c, int64_t read_timeout)
{
    char buf[BUF_SIZE];
    int64_t armed = 0;

    for (;;) {
        if (!serve_arm_read(c, read_timeout, &armed))
            return;
        ssize_t n = gnet_read(c, buf, sizeof(buf), NULL);
        if (n <= 0)
            return; /* end of stream, idle timeout, reset or shutdown */
        if (gnet_write(c, buf, (size_t)n, NULL) < 0)
            return;
    }
}

int main(int argc, char **argv)
{
    serve_opts o = {0};

    o.prog = "echo_server";
    o.addr = "127.0.0.1:7000";
    o.handler = echo;
    return serve_run(&o, argc, argv);
}
