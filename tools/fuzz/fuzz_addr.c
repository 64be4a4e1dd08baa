/*
 * fuzz_addr: libFuzzer target for libnet's address parsing.
 *
 * The input's first byte picks a network (some of them unknown), the
 * rest, up to the first NUL, is the address. Each input goes through
 *
 *   gnet_split_host_port   which must either fail with a bad-address
 *                          error that prints, or give a host and port
 *                          that join back (brackets around a host with
 *                          a colon, as Go's JoinHostPort) into a string
 *                          that splits into the same two parts;
 *   gnet_resolve           numeric only: getaddrinfo and
 *                          getservbyname_r are replaced below, so no
 *                          name ever leaves the process. A resolved
 *                          address must print, and the printed form
 *                          must resolve back to the same bytes.
 *
 * A host that is a short IP literal must never reach the name lookup:
 * the replacement getaddrinfo aborts if it sees one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gort_net.h"

#define FUZZ_CHECK(cond, what)                                                 \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_addr: %s (%s:%d)\n", (what), __FILE__,       \
                    __LINE__);                                                 \
            abort();                                                           \
        }                                                                      \
    } while (0)

static const char *const networks[] = {
    "tcp",  "tcp4",     "tcp6",       "udp", "udp4", "udp6",
    "unix", "unixgram", "unixpacket", "ip",  "",     "tcp7",
};
#define NNETWORKS (sizeof(networks) / sizeof(networks[0]))

/* True when host is an IPv4 or IPv6 literal (with an optional %zone)
 * that the library's literal parser takes as it is, without cutting
 * it short. */
static int is_short_literal(const char *host)
{
    char tmp[64];
    unsigned char ip[16];
    size_t n = strlen(host);

    if (n >= 46)
        return 0;
    memcpy(tmp, host, n + 1);
    if (inet_pton(AF_INET, tmp, ip) == 1)
        return 1;
    char *zone = strchr(tmp, '%');
    if (zone != NULL)
        *zone = '\0';
    return inet_pton(AF_INET6, tmp, ip) == 1;
}

/* The host being resolved, so that the lookup stub can tell whether
 * the library should have parsed it itself. */
static const char *current_host;

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
    (void)service;
    (void)hints;
    *res = NULL;
    FUZZ_CHECK(node == NULL || current_host == NULL ||
                   !is_short_literal(current_host),
               "an IP literal reached getaddrinfo");
    return EAI_NONAME;
}

int getservbyname_r(const char *name, const char *proto,
                    struct servent *result_buf, char *buf, size_t buflen,
                    struct servent **result)
{
    (void)proto;
    (void)buf;
    (void)buflen;
    *result = NULL;
    if (strcmp(name, "http") != 0)
        return ENOENT;
    memset(result_buf, 0, sizeof(*result_buf));
    result_buf->s_port = htons(80);
    *result = result_buf;
    return 0;
}

static void check_split(const char *s)
{
    char host[256], port[64], joined[512];
    char host2[256], port2[64], msg[1024];
    gnet_error err;

    memset(&err, 0, sizeof(err));
    if (gnet_split_host_port(s, host, sizeof(host), port, sizeof(port), &err) <
        0) {
        FUZZ_CHECK(err.cause == GNET_BAD_ADDRESS, "split: wrong cause");
        FUZZ_CHECK(err.reason[0] != '\0', "split: no reason");
        FUZZ_CHECK(gnet_error_cause_format(&err, msg, sizeof(msg)) > 0,
                   "split: empty message");
        return;
    }
    FUZZ_CHECK(strchr(port, ':') == NULL, "split: colon in port");
    FUZZ_CHECK(strpbrk(host, "[]") == NULL, "split: bracket in host");
    if (strchr(host, ':') != NULL)
        snprintf(joined, sizeof(joined), "[%s]:%s", host, port);
    else
        snprintf(joined, sizeof(joined), "%s:%s", host, port);
    FUZZ_CHECK(gnet_split_host_port(joined, host2, sizeof(host2), port2,
                                    sizeof(port2), &err) == 0,
               "split: joined form does not split");
    FUZZ_CHECK(strcmp(host, host2) == 0, "split: host changed on rejoin");
    FUZZ_CHECK(strcmp(port, port2) == 0, "split: port changed on rejoin");
}

static void check_resolve(const char *network, const char *s)
{
    char host[256], port[64], text[GNET_ADDRSTRLEN], msg[1024];
    gnet_addr a, b;
    gnet_error err;

    current_host = NULL;
    if (gnet_split_host_port(s, host, sizeof(host), port, sizeof(port), NULL) ==
        0)
        current_host = host;

    memset(&err, 0, sizeof(err));
    if (gnet_resolve(network, s, &a, &err) < 0) {
        FUZZ_CHECK(err.cause != GNET_OK, "resolve: failed without cause");
        FUZZ_CHECK(a.len == 0, "resolve: failed but set an address");
        FUZZ_CHECK(gnet_error_format(&err, msg, sizeof(msg)) > 0,
                   "resolve: empty message");
        current_host = NULL;
        return;
    }
    current_host = NULL;
    FUZZ_CHECK(err.cause == GNET_OK, "resolve: success with a cause");
    FUZZ_CHECK(a.len > 0 && a.len <= sizeof(a.ss), "resolve: bad length");

    size_t n = gnet_addr_format(&a, text, sizeof(text));
    FUZZ_CHECK(n < sizeof(text), "resolve: address does not fit");
    if (a.ss.ss_family == AF_UNIX) {
        /* "" (no name) prints as "@", which names an abstract socket;
         * every other name prints back as given. */
        if (s[0] == '\0')
            return;
        FUZZ_CHECK(strcmp(text, s) == 0, "resolve: unix name changed");
        return;
    }

    int port_a = gnet_addr_port(&a);
    FUZZ_CHECK(port_a >= 0 && port_a <= 65535, "resolve: port out of range");
    FUZZ_CHECK(gnet_resolve(network, text, &b, &err) == 0,
               "resolve: printed address does not resolve");
    FUZZ_CHECK(gnet_addr_port(&b) == port_a, "resolve: port changed");
    FUZZ_CHECK(a.len == b.len && memcmp(&a.ss, &b.ss, a.len) == 0,
               "resolve: printed address resolves elsewhere");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[512];

    if (size == 0)
        return 0;
    const char *network = networks[data[0] % NNETWORKS];
    size_t n = size - 1 < sizeof(s) - 1 ? size - 1 : sizeof(s) - 1;
    memcpy(s, data + 1, n);
    s[n] = '\0';

    check_split(s);
    check_resolve(network, s);
    return 0;
}
