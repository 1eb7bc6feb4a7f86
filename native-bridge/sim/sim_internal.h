/* sim_internal.h — shared between the sim library's translation units. */
#ifndef VHV_SIM_INTERNAL_H
#define VHV_SIM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

/* Limits reported as host capabilities and enforced on configurations. */
#define SIM_MIN_MEMORY_MB 128
#define SIM_MAX_DISPLAY_WIDTH 3840
#define SIM_MAX_DISPLAY_HEIGHT 2160
#define SIM_MIN_DISPLAY_SIDE 64

/* Default transition delays in milliseconds (multiplied by the time scale). */
#define SIM_DELAY_START_MS 400.0
#define SIM_DELAY_PAUSE_MS 50.0
#define SIM_DELAY_RESUME_MS 50.0
#define SIM_DELAY_REQUEST_STOP_MS 300.0
#define SIM_DELAY_STOP_MS 50.0

typedef struct {
    int width, height;
} sim_display;

typedef struct {
    char *path;
    int read_only;
} sim_disk;

/* A validated VM configuration (only what the simulator uses is kept). */
typedef struct {
    char *name;
    char *type; /* "EFI" | "KBOOT" */
    int cpu_count;
    int memory_mb;
    char *directory;
    char *console_output; /* NULL: no serial output */
    char *console_input;  /* NULL: no serial input */
    sim_disk *disks;
    size_t disk_count;
    sim_display *displays;
    size_t display_count;
    size_t nic_count;
    char **nic_macs;            /* nic_count entries; NULL where the configuration gave none */
    char **guest_addresses;     /* sim.guest_addresses: reported for the first NIC while RUNNING */
    size_t guest_address_count;
    double time_scale;
    char *fail[5];              /* indexed by op kind - 1; NULL: the op succeeds */
    int64_t poweroff_after_ms; /* -1: never */
    int64_t crash_after_ms;    /* -1: never */
} sim_config;

/* Error codes of the envelope. */
#define E_INVALID_ARGUMENT "INVALID_ARGUMENT"
#define E_INVALID_CONFIG "INVALID_CONFIG"
#define E_NOT_FOUND "NOT_FOUND"
#define E_ALREADY_EXISTS "ALREADY_EXISTS"
#define E_INVALID_STATE "INVALID_STATE"
#define E_UNSUPPORTED "UNSUPPORTED"
#define E_HYPERVISOR_ERROR "HYPERVISOR_ERROR"
#define E_INTERNAL "INTERNAL"

/* config.c: parses and validates; on failure returns a non-NULL code and fills msg. */
const char *sim_config_parse(const char *json, sim_config *out, char *msg, size_t msglen);
void sim_config_free(sim_config *cfg);

/* host.c */
int sim_host_cpu_count(void);
int64_t sim_host_memory_mb(void);
/* Appends the bridge_interfaces JSON array to b. */
void sim_host_bridge_interfaces_json(json_buf *b);
/* 1 when `name` is a bridgeable host interface. */
int sim_host_has_interface(const char *name);

/* console.c: a running VM's serial port. */
typedef struct sim_console sim_console;
/* Opens output/input and writes the banner; returns NULL and fills msg on failure. */
sim_console *sim_console_open(const sim_config *cfg, char *msg, size_t msglen);
/* Writes `farewell` (may be NULL), stops the reader thread and closes everything. */
void sim_console_close(sim_console *c, const char *farewell);

/* Starts a library thread (small stack, every signal blocked). Returns 0 or an errno. */
#include <pthread.h>
int sim_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* display.c: renders frame `frame` of a w×h display and writes it as binary PPM. */
int sim_display_write_ppm(const char *path, int w, int h, uint64_t frame, const char *label, char *msg,
                          size_t msglen);

#endif
