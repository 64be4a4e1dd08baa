/*
 * Networks and addresses.
 *
 * A network name fixes the socket type and, for the "4"/"6" variants,
 * the IP family. An IP address string goes through three steps:
 *
 *   split    "host:port" as Go's SplitHostPort (brackets for IPv6,
 *            exact error texts for the malformed cases);
 *   port     decimal, or a service name from the system's services;
 *   host     empty (no IP: a wildcard to listen on, the local system
 *            to dial), an IPv4 or IPv6 literal (with an optional
 *            %zone), or a name given to getaddrinfo. getaddrinfo can
 *            block for seconds, so it runs inside gort_entersyscall.
 *
 * The result is a gnet__ip: an endpoint that does not yet know its
 * socket family. The family is chosen afterwards, as Go's
 * favoriteAddrFamily does: "tcp" listening on a wildcard uses one
 * IPv6 socket that also accepts IPv4 (dual stack), when the system
 * supports IPv4-mapped addresses; otherwise IPv4 unless an address is
 * IPv6. An IPv4 endpoint on an IPv6 socket becomes ::ffff:a.b.c.d.
 *
 * Printing follows Go: "1.2.3.4:80", "[::1]:80", "[fe80::1%eth0]:80";
 * IPv4-mapped addresses print as IPv4; unix paths print as they are,
 * abstract names with a leading '@', an unnamed unix socket as "@".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "net_private.h"

/* ------------------------------------------------------------------ */
/* Networks. */

static const struct {
    const char *name;
    int kind, family, sotype;
} networks[] = {
    {"tcp", GNET__NET_IP, AF_UNSPEC, SOCK_STREAM},
    {"tcp4", GNET__NET_IP, AF_INET, SOCK_STREAM},
    {"tcp6", GNET__NET_IP, AF_INET6, SOCK_STREAM},
    {"udp", GNET__NET_IP, AF_UNSPEC, SOCK_DGRAM},
    {"udp4", GNET__NET_IP, AF_INET, SOCK_DGRAM},
    {"udp6", GNET__NET_IP, AF_INET6, SOCK_DGRAM},
    {"unix", GNET__NET_UNIX, AF_UNIX, SOCK_STREAM},
    {"unixgram", GNET__NET_UNIX, AF_UNIX, SOCK_DGRAM},
    {"unixpacket", GNET__NET_UNIX, AF_UNIX, SOCK_SEQPACKET},
};

int gnet__network_parse(const char *name, gnet__network *nw)
{
    if (name == NULL)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(networks) / sizeof(networks[0]); i++) {
        if (strcmp(name, networks[i].name) != 0)
            continue;
        gnet__copy(nw->name, sizeof(nw->name), name);
        nw->kind = networks[i].kind;
        nw->family = networks[i].family;
        nw->sotype = networks[i].sotype;
        return 0;
    }
    return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* What the IP stack supports, probed once (Go's ipStackCapabilities). */

static struct {
    pthread_once_t once;
    bool v4, v6, v4map;
} caps = {PTHREAD_ONCE_INIT, false, false, false};

static bool probe(int family, const char *ip, int v6only)
{
    gnet_addr a;
    memset(&a, 0, sizeof(a));
    int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return false;
    if (v6only >= 0)
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));

    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;
        sin->sin_family = AF_INET;
        inet_pton(AF_INET, ip, &sin->sin_addr);
        a.len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.ss;
        sin6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ip, &sin6->sin6_addr);
        a.len = sizeof(*sin6);
    }
    bool ok = bind(s, (struct sockaddr *)&a.ss, a.len) == 0;
    close(s);
    return ok;
}

static void probe_caps(void)
{
    caps.v4 = probe(AF_INET, "127.0.0.1", -1);
    caps.v6 = probe(AF_INET6, "::1", 1);
    caps.v4map = probe(AF_INET6, "::ffff:127.0.0.1", 0);
}

static void ensure_caps(void)
{
    pthread_once(&caps.once, probe_caps);
}

/* ------------------------------------------------------------------ */
/* Endpoints. */

static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool gnet__ip_is4(const gnet__ip *a)
{
    return a->family == AF_INET;
}

bool gnet__ip_is_wildcard(const gnet__ip *a)
{
    static const uint8_t zero[16];

    if (a->family == AF_UNSPEC)
        return true;
    return memcmp(a->ip, zero, a->family == AF_INET ? 4 : 16) == 0;
}

/* Go's TCPAddr.family(): no IP counts as IPv4. */
static int family_of(const gnet__ip *a)
{
    return a->family == AF_INET6 ? AF_INET6 : AF_INET;
}

int gnet__favorite_family(const gnet__network *nw, bool listen,
                          const gnet__ip *laddr, const gnet__ip *raddr,
                          bool *ipv6only)
{
    *ipv6only = false;
    if (nw->family == AF_INET)
        return AF_INET;
    if (nw->family == AF_INET6) {
        *ipv6only = true;
        return AF_INET6;
    }

    ensure_caps();
    if (listen && (laddr == NULL || gnet__ip_is_wildcard(laddr))) {
        if (caps.v4map || !caps.v4)
            return AF_INET6;
        return laddr == NULL ? AF_INET : family_of(laddr);
    }
    if ((laddr == NULL || family_of(laddr) == AF_INET) &&
        (raddr == NULL || family_of(raddr) == AF_INET))
        return AF_INET;
    return AF_INET6;
}

bool gnet__ip_sockaddr(const gnet__ip *a, int family, gnet_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
        if (a->family == AF_INET6)
            return false;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(a->port);
        if (a->family == AF_INET)
            memcpy(&sin->sin_addr, a->ip, 4);
        out->len = sizeof(*sin);
        return true;
    }

    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(a->port);

    /* 0.0.0.0 on an IPv6 socket means every address, as :: does. */
    if (a->family == AF_INET && !gnet__ip_is_wildcard(a)) {
        memcpy(sin6->sin6_addr.s6_addr, v4_prefix, 12);
        memcpy(sin6->sin6_addr.s6_addr + 12, a->ip, 4);
    } else if (a->family == AF_INET6) {
        memcpy(sin6->sin6_addr.s6_addr, a->ip, 16);
        sin6->sin6_scope_id = a->zone;
    }
    out->len = sizeof(*sin6);
    return true;
}

void gnet__ip_from_sockaddr(const gnet_addr *sa, gnet__ip *out)
{
    memset(out, 0, sizeof(*out));
    if (sa->len == 0)
        return;
    if (sa->ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&sa->ss;
        out->family = AF_INET;
        memcpy(out->ip, &sin->sin_addr, 4);
        out->port = ntohs(sin->sin_port);
    } else if (sa->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&sa->ss;
        const uint8_t *b = sin6->sin6_addr.s6_addr;
        if (memcmp(b, v4_prefix, 12) == 0) {
            out->family = AF_INET;
            memcpy(out->ip, b + 12, 4);
        } else {
            out->family = AF_INET6;
            memcpy(out->ip, b, 16);
            out->zone = sin6->sin6_scope_id;
        }
        out->port = ntohs(sin6->sin6_port);
    }
}

size_t gnet__ip_format(const gnet__ip *a, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = "";

    if (a->family == AF_INET) {
        inet_ntop(AF_INET, a->ip, host, sizeof(host));
        return (size_t)snprintf(buf, size, "%s:%u", host, a->port);
    }
    if (a->family == AF_UNSPEC)
        return (size_t)snprintf(buf, size, ":%u", a->port);

    inet_ntop(AF_INET6, a->ip, host, sizeof(host));
    if (a->zone != 0) {
        char zone[IF_NAMESIZE];
        size_t n = strlen(host);
        if (if_indextoname(a->zone, zone) != NULL)
            snprintf(host + n, sizeof(host) - n, "%%%s", zone);
        else
            snprintf(host + n, sizeof(host) - n, "%%%u", a->zone);
    }
    return (size_t)snprintf(buf, size, "[%s]:%u", host, a->port);
}

/* ------------------------------------------------------------------ */
/* Unix addresses. */

int gnet__unix_sockaddr(const char *path, gnet_addr *out)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;
    size_t n = strlen(path);

    memset(out, 0, sizeof(*out));
    if (n >= sizeof(sun->sun_path))
        return -EINVAL;
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n);
    out->len = (socklen_t)offsetof(struct sockaddr_un, sun_path);
    if (n == 0)
        return 0;

    /* An abstract name has no terminating NUL in its length. */
    if (path[0] == '@') {
        sun->sun_path[0] = '\0';
        out->len += (socklen_t)n;
    } else {
        out->len += (socklen_t)n + 1;
    }
    return 0;
}

static size_t unix_format(const gnet_addr *a, char *buf, size_t size)
{
    const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->ss;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t max = a->len > off ? a->len - off : 0;
    char path[sizeof(sun->sun_path) + 1];

    if (max > sizeof(sun->sun_path))
        max = sizeof(sun->sun_path);

    /* Like Go, a leading NUL (abstract, or no name at all) shows as
     * '@' and the name ends at the first NUL after it. */
    size_t n = 0;
    path[n++] = max > 0 && sun->sun_path[0] != '\0' ? sun->sun_path[0] : '@';
    while (n < max && sun->sun_path[n] != '\0') {
        path[n] = sun->sun_path[n];
        n++;
    }
    path[n] = '\0';
    return (size_t)snprintf(buf, size, "%s", path);
}

/* ------------------------------------------------------------------ */
/* Public address helpers. */

size_t gnet_addr_format(const gnet_addr *a, char *buf, size_t size)
{
    gnet__ip ip;

    if (a == NULL || a->len == 0)
        return (size_t)snprintf(buf, size, "<nil>");
    switch (a->ss.ss_family) {
    case AF_UNIX:
        return unix_format(a, buf, size);
    case AF_INET:
    case AF_INET6:
        gnet__ip_from_sockaddr(a, &ip);
        return gnet__ip_format(&ip, buf, size);
    }
    return (size_t)snprintf(buf, size, "<family %d>", a->ss.ss_family);
}

int gnet_addr_port(const gnet_addr *a)
{
    gnet__ip ip;

    if (a == NULL || a->len == 0)
        return -1;
    if (a->ss.ss_family != AF_INET && a->ss.ss_family != AF_INET6)
        return -1;
    gnet__ip_from_sockaddr(a, &ip);
    return ip.port;
}

static int addr_error(gnet_error *err, const char *addr, const char *why)
{
    gnet__err_cause(err, GNET_BAD_ADDRESS, addr, why);
    return -1;
}

int gnet_split_host_port(const char *hp, char *host, size_t hostsize,
                         char *port, size_t portsize, gnet_error *err)
{
    const char *colon;
    size_t hlen;
    const char *hstart;
    size_t j = 0, k = 0; /* no '[' resp. ']' may appear from here on */

    if (host == NULL || port == NULL) {
        gnet__err_cause(err, GNET_INVALID, "", "NULL host or port buffer");
        return -1;
    }
    if (hp == NULL)
        hp = "";
    colon = strrchr(hp, ':');
    if (colon == NULL)
        return addr_error(err, hp, "missing port in address");

    if (hp[0] == '[') {
        const char *end = strchr(hp, ']');
        if (end == NULL)
            return addr_error(err, hp, "missing ']' in address");
        if (end + 1 != colon) {
            if (end[1] == ':')
                return addr_error(err, hp, "too many colons in address");
            return addr_error(err, hp, "missing port in address");
        }
        hstart = hp + 1;
        hlen = (size_t)(end - hstart);
        j = 1;
        k = (size_t)(end - hp) + 1;
    } else {
        hstart = hp;
        hlen = (size_t)(colon - hp);
        if (memchr(hp, ':', hlen) != NULL)
            return addr_error(err, hp, "too many colons in address");
    }
    if (strchr(hp + j, '[') != NULL)
        return addr_error(err, hp, "unexpected '[' in address");
    if (strchr(hp + k, ']') != NULL)
        return addr_error(err, hp, "unexpected ']' in address");
    if (hlen >= hostsize || strlen(colon + 1) >= portsize)
        return addr_error(err, hp, "address too long");

    memcpy(host, hstart, hlen);
    host[hlen] = '\0';
    gnet__copy(port, portsize, colon + 1);
    gnet__err_ok(err);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Resolution. */

static int parse_port(const gnet__network *nw, const char *s, uint16_t *out,
                      gnet_error *err)
{
    char name[96]; /* network "/" service */

    if (s[0] == '\0') {
        *out = 0;
        return 0;
    }

    /* Decimal, as Go's parsePort: an optional sign, then digits only,
     * range checked; "-1" is an invalid port, not a service name. */
    const char *d = s + (s[0] == '+' || s[0] == '-');
    if (d[0] != '\0' && strspn(d, "0123456789") == strlen(d)) {
        unsigned long v = 0;
        for (const char *p = d; *p != '\0' && v <= 0xffff; p++)
            v = v * 10 + (unsigned long)(*p - '0');
        if (v > 0xffff || (s[0] == '-' && v != 0))
            return addr_error(err, s, "invalid port");
        *out = (uint16_t)v;
        return 0;
    }

    /* A service name ("http"). The services file is local, but NSS may
     * consult anything, so this is a syscall too. */
    const char *proto = nw->sotype == SOCK_DGRAM ? "udp" : "tcp";
    struct servent se, *res = NULL;
    char tmp[1024];
    gort_entersyscall();
    getservbyname_r(s, proto, &se, tmp, sizeof(tmp), &res);
    gort_exitsyscall();
    if (res == NULL) {
        snprintf(name, sizeof(name), "%s/%s", nw->name, s);
        gnet__err_cause(err, GNET_LOOKUP, name, "unknown port");
        return -1;
    }
    *out = ntohs((uint16_t)res->s_port);
    return 0;
}

static bool parse_literal(const char *host, gnet__ip *ip)
{
    char tmp[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    char *zone;

    memset(ip, 0, sizeof(*ip));
    if (inet_pton(AF_INET, host, ip->ip) == 1) {
        ip->family = AF_INET;
        return true;
    }
    gnet__copy(tmp, sizeof(tmp), host);
    zone = strchr(tmp, '%');
    if (zone != NULL)
        *zone++ = '\0';
    if (inet_pton(AF_INET6, tmp, ip->ip) != 1)
        return false;

    ip->family = AF_INET6;
    if (memcmp(ip->ip, v4_prefix, 12) == 0) {
        memmove(ip->ip, ip->ip + 12, 4);
        memset(ip->ip + 4, 0, 12);
        ip->family = AF_INET;
    }
    if (zone != NULL && *zone != '\0') {
        char *end;
        unsigned long v = strtoul(zone, &end, 10);
        ip->zone = *end == '\0' ? (uint32_t)v : if_nametoindex(zone);
    }
    return true;
}

static int lookup_error(gnet_error *err, const char *host, int rc, int sys)
{
    char why[64];

    if (rc == EAI_NONAME || rc == EAI_NODATA)
        gnet__copy(why, sizeof(why), "no such host");
    else if (rc == EAI_SYSTEM)
        snprintf(why, sizeof(why), "%s", strerrordesc_np(sys));
    else
        gnet__copy(why, sizeof(why), gai_strerror(rc));
    if (why[0] >= 'A' && why[0] <= 'Z' && !(why[1] >= 'A' && why[1] <= 'Z'))
        why[0] = (char)(why[0] - 'A' + 'a');
    gnet__err_cause(err, GNET_LOOKUP, host, why);
    return -1;
}

static int lookup(const gnet__network *nw, const char *host, uint16_t port,
                  gnet__ip *list, int max, gnet_error *err)
{
    struct addrinfo hints, *res = NULL;
    int n = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = nw->family;
    hints.ai_socktype = nw->sotype;

    gort_entersyscall();
    int rc = getaddrinfo(host, NULL, &hints, &res);
    int sys = errno;
    gort_exitsyscall();
    if (rc != 0)
        return lookup_error(err, host, rc, sys);

    for (struct addrinfo *ai = res; ai != NULL && n < max; ai = ai->ai_next) {
        gnet_addr sa;
        if (ai->ai_addrlen > sizeof(sa.ss))
            continue;
        memcpy(&sa.ss, ai->ai_addr, ai->ai_addrlen);
        sa.len = ai->ai_addrlen;
        gnet__ip_from_sockaddr(&sa, &list[n]);
        if (list[n].family == AF_UNSPEC)
            continue;
        list[n].port = port;
        n++;
    }
    freeaddrinfo(res);
    if (n == 0)
        return lookup_error(err, host, EAI_NONAME, 0);
    return n;
}

/* Go's filterAddrList: "…4" keeps IPv4, "…6" keeps real IPv6. */
static int filter(const gnet__network *nw, const char *host, gnet__ip *list,
                  int n, gnet_error *err)
{
    int kept = 0;

    if (nw->family == AF_UNSPEC)
        return n;
    for (int i = 0; i < n; i++) {
        bool v4 = list[i].family == AF_INET;
        if ((nw->family == AF_INET) == v4)
            list[kept++] = list[i];
    }
    if (kept == 0) {
        gnet__err_cause(err, GNET_NO_SUITABLE, host, "");
        return -1;
    }
    return kept;
}

int gnet__ip_resolve(const gnet__network *nw, const char *address,
                     gnet__ip *list, int max, gnet_error *err)
{
    char host[256], port[64];
    uint16_t p;
    int n;

    if (gnet_split_host_port(address, host, sizeof(host), port, sizeof(port),
                             err) < 0)
        return -1;
    if (parse_port(nw, port, &p, err) < 0)
        return -1;

    if (host[0] == '\0') {
        memset(&list[0], 0, sizeof(list[0]));
        list[0].family = AF_UNSPEC;
        list[0].port = p;
        return 1;
    }
    if (parse_literal(host, &list[0])) {
        list[0].port = p;
        n = 1;
    } else {
        n = lookup(nw, host, p, list, max, err);
        if (n < 0)
            return -1;
    }
    return filter(nw, host, list, n, err);
}

int gnet_resolve(const char *network, const char *address, gnet_addr *out,
                 gnet_error *err)
{
    gnet__network nw;
    gnet__ip list[GNET__MAX_ADDRS];

    if (out == NULL) {
        gnet__err_frame_text(err, "resolve", network, "", address);
        gnet__err_cause(err, GNET_INVALID, "", "NULL out");
        return -1;
    }
    memset(out, 0, sizeof(*out));
    if (address == NULL)
        address = "";
    if (gnet__network_parse(network, &nw) < 0) {
        gnet__err_frame_text(err, "resolve", network, "", "");
        gnet__err_cause(err, GNET_UNKNOWN_NETWORK, network, "");
        return -1;
    }
    if (nw.kind == GNET__NET_UNIX) {
        int rc = gnet__unix_sockaddr(address, out);
        if (rc < 0) {
            gnet__err_frame_text(err, "resolve", network, "", "");
            gnet__err_code(err, rc, "", false);
            return -1;
        }
        gnet__err_ok(err);
        return 0;
    }

    int n = gnet__ip_resolve(&nw, address, list, GNET__MAX_ADDRS, err);
    if (n < 0) {
        gnet__err_frame_text(err, "resolve", network, "", "");
        return -1;
    }

    /* Go's forResolve: a bracketed address asks for IPv6. */
    bool want6 = strchr(address, '[') != NULL;
    int pick = 0;
    for (int i = 0; i < n; i++) {
        if (gnet__ip_is4(&list[i]) != want6) {
            pick = i;
            break;
        }
    }
    /* No host is the wildcard of the network's family: 0.0.0.0, or
     * [::] for the "6" networks, which would not take 0.0.0.0 back. */
    int family = list[pick].family;
    if (family == AF_UNSPEC)
        family = nw.family == AF_INET6 ? AF_INET6 : AF_INET;
    gnet__ip_sockaddr(&list[pick], family, out);
    gnet__err_ok(err);
    return 0;
}
