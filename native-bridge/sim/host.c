/* host.c — what the simulator reports about the real host it runs on. */
#define _DEFAULT_SOURCE
#define _DARWIN_C_SOURCE
#include <ifaddrs.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

#include "sim_internal.h"

int sim_host_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int64_t sim_host_memory_mb(void) {
#if defined(__APPLE__)
    int64_t bytes = 0;
    size_t len = sizeof bytes;
    if (sysctlbyname("hw.memsize", &bytes, &len, NULL, 0) == 0 && bytes > 0) return bytes / (1024 * 1024);
    return 1024;
#else
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || size <= 0) return 1024;
    return (int64_t)pages * (int64_t)size / (1024 * 1024);
#endif
}

/* Calls fn(name, user) once per distinct non-loopback interface name. */
static void each_interface(void (*fn)(const char *name, void *user), void *user) {
    struct ifaddrs *list = NULL;
    if (getifaddrs(&list) != 0) return;
    for (struct ifaddrs *a = list; a; a = a->ifa_next) {
        if (!a->ifa_name || (a->ifa_flags & IFF_LOOPBACK)) continue;
        int seen = 0;
        for (struct ifaddrs *b = list; b != a; b = b->ifa_next)
            if (b->ifa_name && strcmp(b->ifa_name, a->ifa_name) == 0) seen = 1;
        if (!seen) fn(a->ifa_name, user);
    }
    freeifaddrs(list);
}

static const char *describe(const char *name) {
#if defined(__linux__)
    static const char *const prefixes[][2] = {
        { "wl", "Wi-Fi" }, { "en", "Ethernet" }, { "eth", "Ethernet" }, { "br", "Bridge" }, { "bond", "Bond" },
        { "veth", "Virtual Ethernet" }, { "docker", "Bridge" }, { "virbr", "Bridge" }, { "tap", "TAP" },
        { "tun", "Tunnel" }, { "vlan", "VLAN" },
    };
#else
    static const char *const prefixes[][2] = {
        { "en", "Ethernet" }, { "bridge", "Bridge" }, { "utun", "Tunnel" }, { "awdl", "Apple Wireless Direct Link" },
    };
#endif
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(name, prefixes[i][0], strlen(prefixes[i][0])) == 0) return prefixes[i][1];
    return "Network interface";
}

typedef struct {
    json_buf *b;
    int count;
} list_ctx;

static void add_json(const char *name, void *user) {
    list_ctx *l = user;
    if (l->count++) jb_raw(l->b, ",");
    jb_raw(l->b, "{\"id\":");
    jb_string(l->b, name);
    jb_raw(l->b, ",\"name\":");
    jb_string(l->b, name);
    jb_raw(l->b, ",\"description\":");
    jb_string(l->b, describe(name));
    jb_raw(l->b, "}");
}

void sim_host_bridge_interfaces_json(json_buf *b) {
    list_ctx l = { b, 0 };
    jb_raw(b, "[");
    each_interface(add_json, &l);
    jb_raw(b, "]");
}

typedef struct {
    const char *wanted;
    int found;
} find_ctx;

static void match(const char *name, void *user) {
    find_ctx *f = user;
    if (strcmp(name, f->wanted) == 0) f->found = 1;
}

int sim_host_has_interface(const char *name) {
    find_ctx f = { name, 0 };
    each_interface(match, &f);
    return f.found;
}
