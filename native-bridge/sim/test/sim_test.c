/*
 * sim_test.c — a development check of the sim library in C, meant to run under
 * valgrind or AddressSanitizer (the Node tests cover behaviour in depth):
 *
 *   cc -std=c11 -g -O1 -fsanitize=address,undefined -pthread -I native-bridge/include \
 *      native-bridge/sim/[a-z]*.c native-bridge/sim/test/sim_test.c -o /tmp/sim_test -lm && /tmp/sim_test
 *   cc -std=c11 -g -O1 -pthread -I native-bridge/include native-bridge/sim/[a-z]*.c \
 *      native-bridge/sim/test/sim_test.c -o /tmp/sim_test -lm && valgrind --leak-check=full /tmp/sim_test
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "velocity_hv.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static char *events[4096];
static int nevents;
static int failures;

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                            \
        }                                                                          \
    } while (0)

static void on_event(const char *json) {
    pthread_mutex_lock(&lock);
    if (nevents < 4096) events[nevents++] = strdup(json);
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&lock);
}

/* Waits until an event containing `needle` arrived; returns its index or -1. */
static int wait_for(const char *needle, int from) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&lock);
    for (;;) {
        for (int i = from; i < nevents; i++)
            if (strstr(events[i], needle)) {
                pthread_mutex_unlock(&lock);
                return i;
            }
        if (pthread_cond_timedwait(&cv, &lock, &until) != 0) break;
    }
    pthread_mutex_unlock(&lock);
    fprintf(stderr, "timed out waiting for %s\n", needle);
    return -1;
}

/* Calls fn, checks the envelope contains `expect`, frees it. */
static void expect(char *s, const char *want) {
    if (!s || !strstr(s, want)) {
        fprintf(stderr, "expected %s in %s\n", want, s ? s : "(null)");
        failures++;
    }
    vhv_free_string(s);
}

int main(void) {
    char dir[] = "/tmp/vhv-sim-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char out[256], in[256], ppm[256], cfg[2048];
    snprintf(out, sizeof out, "%s/console.log", dir);
    snprintf(in, sizeof in, "%s/console.in", dir);
    snprintf(ppm, sizeof ppm, "%s/frame.ppm", dir);
    CHECK(mkfifo(in, 0600) == 0);

    CHECK(vhv_abi_version() == VHV_ABI_VERSION);
    expect(vhv_host_capabilities(), "\"driver\":\"sim\"");
    CHECK(vhv_set_event_callback(on_event) == 0);

    snprintf(cfg, sizeof cfg,
             "{\"name\":\"t\\u00e9st\",\"type\":\"EFI\",\"cpu_count\":1,\"memory_size_mb\":512,\"directory\":\"%s\","
             "\"console\":{\"output\":\"%s\",\"input\":\"%s\"},\"disks\":[],\"nics\":[{\"type\":\"NAT\","
             "\"mac\":\"52:54:00:00:00:01\"}],\"displays\":[{\"width\":320,\"height\":200}],\"rosetta\":false,"
             "\"sim\":{\"time_scale\":0.05,\"fail\":{\"pause\":\"no \\\"pause\\\" today\"}}}",
             dir, out, in);
    expect(vhv_create("vm-1", cfg), "\"state\":\"STOPPED\"");
    expect(vhv_create("vm-1", cfg), "ALREADY_EXISTS");
    expect(vhv_create("vm-2", "{\"name\":\"x\"}"), "INVALID_CONFIG");
    expect(vhv_create("vm-2", "{\"name\":\"x\",}"), "invalid JSON");
    expect(vhv_create("vm-2", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]"
                              "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
           "nested too deeply");
    expect(vhv_create("vm-2", NULL), "INVALID_ARGUMENT");
    expect(vhv_create(NULL, cfg), "INVALID_ARGUMENT");
    expect(vhv_start("nope"), "NOT_FOUND");
    expect(vhv_pause("vm-1"), "INVALID_STATE");
    expect(vhv_capture_display("vm-1", 0, ppm), "INVALID_STATE");

    expect(vhv_start("vm-1"), "\"op_id\":");
    CHECK(wait_for("\"op\":\"start\",\"ok\":true", 0) >= 0);
    expect(vhv_state("vm-1"), "RUNNING");
    int fd = open(in, O_WRONLY | O_NONBLOCK);
    CHECK(fd >= 0);
    CHECK(write(fd, "hello\r\n", 7) == 7);
    close(fd);
    expect(vhv_capture_display("vm-1", 0, ppm), "\"width\":320");
    expect(vhv_capture_display("vm-1", 1, ppm), "INVALID_ARGUMENT");

    int mark = nevents;
    expect(vhv_pause("vm-1"), "op_id");
    CHECK(wait_for("no \\\"pause\\\" today", mark) >= 0);
    expect(vhv_state("vm-1"), "RUNNING");

    mark = nevents;
    expect(vhv_request_stop("vm-1"), "op_id");
    expect(vhv_stop("vm-1"), "op_id"); /* supersedes the graceful stop */
    CHECK(wait_for("superseded", mark) >= 0);
    CHECK(wait_for("\"op\":\"stop\",\"ok\":true", mark) >= 0);
    expect(vhv_destroy("vm-1"), "STOPPED");
    expect(vhv_destroy("vm-1"), "NOT_FOUND");

    /* Crash and poweroff timers. */
    snprintf(cfg, sizeof cfg,
             "{\"name\":\"c\",\"type\":\"KBOOT\",\"cpu_count\":1,\"memory_size_mb\":256,\"directory\":\"%s\","
             "\"kboot\":{\"kernel\":\"/vmlinuz\",\"initrd\":null,\"cmdline\":\"console=hvc0\"},"
             "\"sim\":{\"time_scale\":0,\"crash_after_ms\":20}}",
             dir);
    expect(vhv_create("vm-crash", cfg), "STOPPED");
    mark = nevents;
    expect(vhv_start("vm-crash"), "op_id");
    CHECK(wait_for("simulated crash", mark) >= 0);
    expect(vhv_destroy("vm-crash"), "STOPPED");

    /* Many at once. */
    snprintf(cfg, sizeof cfg,
             "{\"name\":\"m\",\"type\":\"EFI\",\"cpu_count\":1,\"memory_size_mb\":256,\"directory\":\"%s\","
             "\"sim\":{\"time_scale\":0.01,\"poweroff_after_ms\":5}}",
             dir);
    char id[64];
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "many-%d", i);
        expect(vhv_create(id, cfg), "STOPPED");
        expect(vhv_start(id), "op_id");
    }
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "\"vm_id\":\"many-%d\",\"state\":\"STOPPED\"", i);
        CHECK(wait_for(id, 0) >= 0);
        snprintf(id, sizeof id, "many-%d", i);
        expect(vhv_destroy(id), "STOPPED");
    }

    CHECK(vhv_set_event_callback(NULL) == 0);
    int after = nevents;
    expect(vhv_create("quiet", cfg), "STOPPED");
    expect(vhv_start("quiet"), "op_id");
    usleep(100000);
    CHECK(nevents == after);
    expect(vhv_destroy("quiet"), "STOPPED");

    /* seq increases by one per event. */
    for (int i = 1; i < nevents; i++) {
        unsigned long long a = strtoull(strstr(events[i - 1], "\"seq\":") + 6, NULL, 10);
        unsigned long long b = strtoull(strstr(events[i], "\"seq\":") + 6, NULL, 10);
        CHECK(b == a + 1);
    }

    FILE *f = fopen(out, "r");
    char text[4096] = "";
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f) fclose(f);
    CHECK(strstr(text, "Booting t\xc3\xa9st (1 vCPU, 512 MiB") != NULL);
    CHECK(strstr(text, "hello\r\nsim login: ") != NULL);

    for (int i = 0; i < nevents; i++) free(events[i]);
    unlink(in);
    unlink(out);
    unlink(ppm);
    rmdir(dir);
    printf("%d events, %s\n", nevents, failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
