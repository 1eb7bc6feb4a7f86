/*
 * sim.c — the `sim` driver: velocity_hv.h implemented by simulation.
 *
 * Threads (created on first use, living as long as the process):
 * - the scheduler thread completes transitions when their delay has passed, and
 *   fires the guest's own timers (sim.poweroff_after_ms, sim.crash_after_ms);
 * - the event thread takes events out of the queue under the lock, unlocks, and only
 *   then calls the registered callback: no callback is ever made under a lock, from a
 *   caller's thread, or from the scheduler (which later calls may wait on);
 * - each running VM with a console input has a reader thread (console.c).
 * One mutex (g_lock) guards all shared state. File work for a VM (opening the console,
 * the banner, joining its reader) is done outside the lock while the VM is marked
 * `busy`; a busy VM refuses operations with INVALID_STATE and cannot be destroyed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include "velocity_hv.h"
#include "sim_internal.h"

#define EXPORT __attribute__((visibility("default")))

/* Built with -DVHV_SIM_ABI_OVERRIDE=N to make a library with a wrong ABI (tests only). */
#ifndef VHV_SIM_ABI_OVERRIDE
#define VHV_SIM_ABI_OVERRIDE VHV_ABI_VERSION
#endif

typedef enum { ST_STOPPED, ST_STARTING, ST_RUNNING, ST_PAUSING, ST_PAUSED, ST_RESUMING, ST_STOPPING } vm_state;
static const char *const STATE_NAMES[] = { "STOPPED", "STARTING", "RUNNING", "PAUSING",
                                           "PAUSED",  "RESUMING", "STOPPING" };

typedef enum { OP_NONE, OP_START, OP_PAUSE, OP_RESUME, OP_REQUEST_STOP, OP_STOP } op_kind;
static const char *const OP_NAMES[] = { "none", "start", "pause", "resume", "request_stop", "stop" };

enum { T_TRANSITION, T_GUEST };

struct vm;
typedef struct timer {
    struct timer *prev, *next;
    uint64_t due; /* CLOCK_MONOTONIC nanoseconds */
    int armed;
    int kind;
    struct vm *vm;
} timer;

typedef struct vm {
    struct vm *next; /* hash chain */
    char *id;
    sim_config cfg;
    vm_state state;
    vm_state prior; /* where a failing operation returns to */
    op_kind op;     /* operation in progress (OP_NONE when settled) */
    uint64_t op_id;
    int busy; /* the scheduler works on this VM outside the lock */
    timer trans, guest;
    int guest_is_crash;
    int64_t guest_remaining_ns; /* guest timer suspended while not RUNNING; -1: none */
    sim_console *con;
    uint64_t frames;
} vm;

typedef struct event {
    struct event *next;
    char json[];
} event;

#define BUCKETS 1024

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_sched_cv, g_event_cv, g_idle_cv;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_init_rc; /* errno of a failed initialisation, 0 when fine */
static pthread_t g_sched_thread, g_event_thread;
static long long g_event_tid;
static int g_event_thread_ready;

static vm *g_vms[BUCKETS];
static timer *g_timer_head, *g_timer_tail;
static event *g_ev_head, *g_ev_tail;
static vhv_event_callback g_cb;
static vhv_event_callback g_inflight_cb; /* non-NULL while the event thread is inside it */
static uint64_t g_seq, g_op_seq;

/* ---------------------------------------------------------------- utilities */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long long current_tid(void) {
#if defined(__linux__)
    return (long long)syscall(SYS_gettid);
#elif defined(__APPLE__)
    uint64_t t = 0;
    pthread_threadid_np(NULL, &t);
    return (long long)t;
#else
    return 0;
#endif
}

static unsigned bucket_of(const char *id) {
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) h = (h ^ *p) * 16777619u;
    return h % BUCKETS;
}

static vm *find_vm(const char *id) {
    for (vm *v = g_vms[bucket_of(id)]; v; v = v->next)
        if (strcmp(v->id, id) == 0) return v;
    return NULL;
}

/* ---------------------------------------------------------------- envelopes */

static char *envelope_error(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *envelope_error(const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_buf b;
    jb_init(&b);
    jb_raw(&b, "{\"ok\":false,\"error\":{\"code\":");
    jb_string(&b, code);
    jb_raw(&b, ",\"message\":");
    jb_string(&b, msg);
    jb_raw(&b, "}}");
    return jb_finish(&b);
}

/* Wraps an already-serialised result value. */
static char *envelope_ok(json_buf *result) {
    json_buf b;
    jb_init(&b);
    jb_raw(&b, "{\"ok\":true,\"result\":");
    if (result->failed || !result->data) b.failed = 1;
    else jb_raw(&b, result->data);
    jb_raw(&b, "}");
    jb_discard(result);
    return jb_finish(&b);
}

static char *envelope_vm_state(const char *id, vm_state st) {
    json_buf r;
    jb_init(&r);
    jb_raw(&r, "{\"vm_id\":");
    jb_string(&r, id);
    jb_printf(&r, ",\"state\":\"%s\"}", STATE_NAMES[st]);
    return envelope_ok(&r);
}

/* Checks a vm_id argument; returns an error envelope or NULL when acceptable. */
static char *check_vm_id(const char *id) {
    if (!id || !*id) return envelope_error(E_INVALID_ARGUMENT, "vm_id is required");
    size_t n = strlen(id);
    if (n > 128) return envelope_error(E_INVALID_ARGUMENT, "vm_id is longer than 128 bytes");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
            return envelope_error(E_INVALID_ARGUMENT, "vm_id contains control characters");
    return NULL;
}

/* ---------------------------------------------------------------- events (g_lock held) */

static void event_push(json_buf *b) {
    char *text = jb_finish(b);
    if (!text) return; /* out of memory: the event is lost, seq shows the gap */
    size_t len = strlen(text);
    event *e = malloc(sizeof *e + len + 1);
    if (e) {
        e->next = NULL;
        memcpy(e->json, text, len + 1);
        if (g_ev_tail) g_ev_tail->next = e;
        else g_ev_head = e;
        g_ev_tail = e;
        pthread_cond_signal(&g_event_cv);
    }
    free(text);
}

/* Starts an event document; returns 0 (and builds nothing) when nobody listens. */
static int event_begin(json_buf *b, const char *type, const vm *v) {
    if (!g_cb) return 0;
    jb_init(b);
    jb_printf(b, "{\"type\":\"%s\",\"seq\":%llu,\"thread\":%lld,\"vm_id\":", type, (unsigned long long)++g_seq,
              g_event_tid);
    jb_string(b, v->id);
    return 1;
}

static void emit_state(const vm *v) {
    json_buf b;
    if (!event_begin(&b, "state", v)) return;
    jb_printf(&b, ",\"state\":\"%s\"}", STATE_NAMES[v->state]);
    event_push(&b);
}

static void emit_error_fields(json_buf *b, const char *code, const char *msg) {
    jb_raw(b, ",\"error\":{\"code\":");
    jb_string(b, code);
    jb_raw(b, ",\"message\":");
    jb_string(b, msg);
    jb_raw(b, "}");
}

/* code NULL: the operation succeeded. */
static void emit_op(const vm *v, op_kind op, uint64_t op_id, const char *code, const char *msg) {
    json_buf b;
    if (!event_begin(&b, "op", v)) return;
    jb_printf(&b, ",\"op_id\":%llu,\"op\":\"%s\",\"ok\":%s", (unsigned long long)op_id, OP_NAMES[op],
              code ? "false" : "true");
    if (code) emit_error_fields(&b, code, msg);
    jb_raw(&b, "}");
    event_push(&b);
}

static void emit_error(const vm *v, const char *code, const char *msg) {
    json_buf b;
    if (!event_begin(&b, "error", v)) return;
    emit_error_fields(&b, code, msg);
    jb_raw(&b, "}");
    event_push(&b);
}

static void *event_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&g_lock);
    g_event_tid = current_tid();
    g_event_thread_ready = 1;
    pthread_cond_broadcast(&g_idle_cv);
    for (;;) {
        while (!g_ev_head) pthread_cond_wait(&g_event_cv, &g_lock);
        event *e = g_ev_head;
        g_ev_head = e->next;
        if (!g_ev_head) g_ev_tail = NULL;
        vhv_event_callback cb = g_cb;
        g_inflight_cb = cb;
        pthread_mutex_unlock(&g_lock);
        if (cb) cb(e->json); /* never under the lock */
        free(e);
        pthread_mutex_lock(&g_lock);
        if (cb) {
            g_inflight_cb = NULL;
            pthread_cond_broadcast(&g_idle_cv);
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- timers (g_lock held) */

static void timer_cancel(timer *t) {
    if (!t->armed) return;
    if (t->prev) t->prev->next = t->next;
    else g_timer_head = t->next;
    if (t->next) t->next->prev = t->prev;
    else g_timer_tail = t->prev;
    t->prev = t->next = NULL;
    t->armed = 0;
}

static void timer_arm(timer *t, uint64_t due) {
    timer_cancel(t);
    t->due = due;
    t->armed = 1;
    /* Insert from the tail: new timers are usually the latest. */
    timer *after = g_timer_tail;
    while (after && after->due > due) after = after->prev;
    t->prev = after;
    t->next = after ? after->next : g_timer_head;
    if (t->next) t->next->prev = t;
    else g_timer_tail = t;
    if (after) after->next = t;
    else g_timer_head = t;
    pthread_cond_signal(&g_sched_cv);
}

static uint64_t scaled_ns(const vm *v, double base_ms) {
    double ns = base_ms * v->cfg.time_scale * 1e6;
    return ns <= 0 ? 0 : (uint64_t)ns;
}

/* The guest's own clock (poweroff/crash) only runs while the VM is RUNNING and settled. */
static void guest_suspend(vm *v) {
    if (!v->guest.armed) return;
    uint64_t now = now_ns();
    v->guest_remaining_ns = v->guest.due > now ? (int64_t)(v->guest.due - now) : 0;
    timer_cancel(&v->guest);
}

static void guest_resume(vm *v) {
    if (v->guest_remaining_ns < 0) return;
    timer_arm(&v->guest, now_ns() + (uint64_t)v->guest_remaining_ns);
    v->guest_remaining_ns = -1;
}

/* ---------------------------------------------------------------- transitions */

static int check_disks(const sim_config *cfg, char *msg, size_t msglen) {
    for (size_t i = 0; i < cfg->disk_count; i++) {
        const sim_disk *d = &cfg->disks[i];
        if (access(d->path, d->read_only ? R_OK : R_OK | W_OK) != 0) {
            snprintf(msg, msglen, "disk image %s: %s", d->path, strerror(errno));
            return 0;
        }
    }
    return 1;
}

/* Takes the console down outside the lock. Called and returns with g_lock held. */
static void power_down(vm *v, const char *farewell) {
    guest_suspend(v);
    v->guest_remaining_ns = -1;
    sim_console *con = v->con;
    v->con = NULL;
    if (!con) return;
    v->busy = 1;
    pthread_mutex_unlock(&g_lock);
    sim_console_close(con, farewell);
    pthread_mutex_lock(&g_lock);
    v->busy = 0;
}

static void settle(vm *v, vm_state st) {
    v->state = st;
    v->op = OP_NONE;
    emit_state(v);
}

static void complete_transition(vm *v) {
    op_kind op = v->op;
    uint64_t op_id = v->op_id;
    const char *injected = v->cfg.fail[op - 1];
    if (injected) {
        settle(v, v->prior); /* the true state: nothing happened */
        if (v->state == ST_RUNNING) guest_resume(v);
        emit_op(v, op, op_id, E_HYPERVISOR_ERROR, injected);
        return;
    }
    switch (op) {
    case OP_START: {
        char msg[600] = "";
        sim_console *con = NULL;
        v->busy = 1;
        pthread_mutex_unlock(&g_lock);
        int ok = check_disks(&v->cfg, msg, sizeof msg) && (con = sim_console_open(&v->cfg, msg, sizeof msg)) != NULL;
        pthread_mutex_lock(&g_lock);
        v->busy = 0;
        if (!ok) {
            settle(v, ST_STOPPED);
            emit_op(v, op, op_id, E_HYPERVISOR_ERROR, msg);
            return;
        }
        v->con = con;
        int64_t p = v->cfg.poweroff_after_ms, c = v->cfg.crash_after_ms;
        v->guest_is_crash = c >= 0 && (p < 0 || c < p);
        int64_t ms = v->guest_is_crash ? c : p;
        v->guest_remaining_ns = ms >= 0 ? ms * 1000000 : -1;
        settle(v, ST_RUNNING);
        guest_resume(v);
        emit_op(v, op, op_id, NULL, NULL);
        return;
    }
    case OP_PAUSE: settle(v, ST_PAUSED); break;
    case OP_RESUME:
        settle(v, ST_RUNNING);
        guest_resume(v);
        break;
    case OP_REQUEST_STOP:
    case OP_STOP:
        power_down(v, op == OP_STOP ? "\r\n[sim] virtual machine stopped\r\n" : "\r\nreboot: Power down\r\n");
        settle(v, ST_STOPPED);
        break;
    case OP_NONE: return;
    }
    emit_op(v, op, op_id, NULL, NULL);
}

static void guest_timer_fired(vm *v) {
    v->guest_remaining_ns = -1;
    if (v->guest_is_crash) {
        power_down(v, "\r\n[sim] guest crashed\r\n");
        settle(v, ST_STOPPED);
        emit_error(v, E_HYPERVISOR_ERROR, "the virtual machine stopped with an error: simulated crash (sim.crash_after_ms)");
    } else {
        settle(v, ST_STOPPING);
        power_down(v, "\r\nreboot: Power down\r\n");
        settle(v, ST_STOPPED);
    }
}

static void sched_wait_until(uint64_t due) {
#if defined(__APPLE__)
    uint64_t now = now_ns();
    if (due <= now) return;
    uint64_t d = due - now;
    struct timespec rel = { (time_t)(d / 1000000000u), (long)(d % 1000000000u) };
    pthread_cond_timedwait_relative_np(&g_sched_cv, &g_lock, &rel);
#else
    struct timespec abs = { (time_t)(due / 1000000000u), (long)(due % 1000000000u) };
    pthread_cond_timedwait(&g_sched_cv, &g_lock, &abs);
#endif
}

static void *sched_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&g_lock);
    for (;;) {
        timer *t = g_timer_head;
        if (!t) {
            pthread_cond_wait(&g_sched_cv, &g_lock);
            continue;
        }
        if (t->due > now_ns()) {
            sched_wait_until(t->due);
            continue;
        }
        timer_cancel(t);
        if (t->kind == T_TRANSITION) complete_transition(t->vm);
        else guest_timer_fired(t->vm);
    }
    return NULL;
}

/* ---------------------------------------------------------------- initialisation */

static void init_once(void) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
#if !defined(__APPLE__)
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
#endif
    pthread_cond_init(&g_sched_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&g_event_cv, NULL);
    pthread_cond_init(&g_idle_cv, NULL);
    int rc = sim_thread_start(&g_event_thread, event_main, NULL);
    if (rc == 0) rc = sim_thread_start(&g_sched_thread, sched_main, NULL);
    if (rc == 0) {
        pthread_mutex_lock(&g_lock);
        while (!g_event_thread_ready) pthread_cond_wait(&g_idle_cv, &g_lock);
        pthread_mutex_unlock(&g_lock);
    }
    g_init_rc = rc;
}

/* Returns an error envelope when the library could not start its threads. */
static char *ensure_init(void) {
    pthread_once(&g_once, init_once);
    if (g_init_rc) return envelope_error(E_INTERNAL, "cannot start the sim library's threads: %s", strerror(g_init_rc));
    return NULL;
}

/* ---------------------------------------------------------------- the C interface */

EXPORT int32_t vhv_abi_version(void) { return VHV_SIM_ABI_OVERRIDE; }

EXPORT void vhv_free_string(char *s) { free(s); }

EXPORT char *vhv_host_capabilities(void) {
    json_buf r;
    jb_init(&r);
    jb_printf(&r,
              "{\"driver\":\"sim\",\"max_cpu_count\":%d,\"max_memory_mb\":%lld,\"min_memory_mb\":%d,"
              "\"max_display_width\":%d,\"max_display_height\":%d,\"bridge_interfaces\":",
              sim_host_cpu_count(), (long long)sim_host_memory_mb(), SIM_MIN_MEMORY_MB, SIM_MAX_DISPLAY_WIDTH,
              SIM_MAX_DISPLAY_HEIGHT);
    sim_host_bridge_interfaces_json(&r);
    jb_raw(&r, ",\"rosetta\":false,\"macos_guests\":false,\"screenshots\":true,\"vm_types\":[\"EFI\",\"KBOOT\"]}");
    return envelope_ok(&r);
}

EXPORT int32_t vhv_set_event_callback(vhv_event_callback callback) {
    char *err = ensure_init();
    if (err) {
        free(err);
        return -1;
    }
    pthread_mutex_lock(&g_lock);
    vhv_event_callback old = g_cb;
    g_cb = callback;
    if (!callback) {
        /* Nobody listens any more: drop what is queued. */
        while (g_ev_head) {
            event *e = g_ev_head;
            g_ev_head = e->next;
            free(e);
        }
        g_ev_tail = NULL;
    }
    /* Wait until the event thread has left the previous callback, unless we are that
     * thread (a callback unregistering itself). */
    if (old && old != callback && !pthread_equal(pthread_self(), g_event_thread))
        while (g_inflight_cb == old) pthread_cond_wait(&g_idle_cv, &g_lock);
    pthread_mutex_unlock(&g_lock);
    return 0;
}

EXPORT char *vhv_create(const char *vm_id, const char *config_json) {
    char *err = ensure_init();
    if (!err) err = check_vm_id(vm_id);
    if (err) return err;
    char msg[1024];
    vm *v = calloc(1, sizeof *v);
    if (!v || !(v->id = strdup(vm_id))) {
        free(v);
        return envelope_error(E_INTERNAL, "out of memory");
    }
    const char *code = sim_config_parse(config_json, &v->cfg, msg, sizeof msg);
    if (code) {
        free(v->id);
        free(v);
        return envelope_error(code, "%s", msg);
    }
    v->state = ST_STOPPED;
    v->guest_remaining_ns = -1;
    v->trans.kind = T_TRANSITION;
    v->trans.vm = v;
    v->guest.kind = T_GUEST;
    v->guest.vm = v;
    pthread_mutex_lock(&g_lock);
    if (find_vm(vm_id)) {
        pthread_mutex_unlock(&g_lock);
        sim_config_free(&v->cfg);
        free(v->id);
        free(v);
        return envelope_error(E_ALREADY_EXISTS, "a VM with id %s already exists", vm_id);
    }
    unsigned b = bucket_of(vm_id);
    v->next = g_vms[b];
    g_vms[b] = v;
    pthread_mutex_unlock(&g_lock);
    return envelope_vm_state(vm_id, ST_STOPPED);
}

static char *request_op(const char *vm_id, op_kind op) {
    static const double DELAYS[] = { 0, SIM_DELAY_START_MS, SIM_DELAY_PAUSE_MS, SIM_DELAY_RESUME_MS,
                                     SIM_DELAY_REQUEST_STOP_MS, SIM_DELAY_STOP_MS };
    static const vm_state TRANSITIONAL[] = { ST_STOPPED, ST_STARTING, ST_PAUSING, ST_RESUMING, ST_STOPPING, ST_STOPPING };
    char *err = ensure_init();
    if (!err) err = check_vm_id(vm_id);
    if (err) return err;
    pthread_mutex_lock(&g_lock);
    vm *v = find_vm(vm_id);
    if (!v) {
        pthread_mutex_unlock(&g_lock);
        return envelope_error(E_NOT_FOUND, "no VM with id %s", vm_id);
    }
    vm_state st = v->state;
    int allowed = 0, supersede = 0;
    if (!v->busy) {
        switch (op) {
        case OP_START: allowed = st == ST_STOPPED; break;
        case OP_PAUSE: allowed = st == ST_RUNNING; break;
        case OP_RESUME: allowed = st == ST_PAUSED; break;
        case OP_REQUEST_STOP: allowed = st == ST_RUNNING; break;
        case OP_STOP:
            /* A forced stop may also cut short a graceful stop still in progress. */
            supersede = st == ST_STOPPING && v->op == OP_REQUEST_STOP;
            allowed = st == ST_RUNNING || st == ST_PAUSED || supersede;
            break;
        case OP_NONE: break;
        }
    }
    if (!allowed) {
        char *e = envelope_error(E_INVALID_STATE, "cannot %s VM %s: it is %s%s", OP_NAMES[op], vm_id, STATE_NAMES[st],
                                 v->busy || (v->op != OP_NONE && !supersede) ? " (a transition is in progress)" : "");
        pthread_mutex_unlock(&g_lock);
        return e;
    }
    if (supersede) {
        timer_cancel(&v->trans);
        emit_op(v, OP_REQUEST_STOP, v->op_id, E_INVALID_STATE, "the graceful stop was superseded by a forced stop");
    } else {
        if (st == ST_RUNNING) guest_suspend(v);
        v->prior = st;
        v->state = TRANSITIONAL[op];
        emit_state(v);
    }
    v->op = op;
    v->op_id = ++g_op_seq;
    uint64_t op_id = v->op_id;
    timer_arm(&v->trans, now_ns() + scaled_ns(v, DELAYS[op]));
    pthread_mutex_unlock(&g_lock);
    json_buf r;
    jb_init(&r);
    jb_printf(&r, "{\"op_id\":%llu}", (unsigned long long)op_id);
    return envelope_ok(&r);
}

EXPORT char *vhv_start(const char *vm_id) { return request_op(vm_id, OP_START); }
EXPORT char *vhv_pause(const char *vm_id) { return request_op(vm_id, OP_PAUSE); }
EXPORT char *vhv_resume(const char *vm_id) { return request_op(vm_id, OP_RESUME); }
EXPORT char *vhv_request_stop(const char *vm_id) { return request_op(vm_id, OP_REQUEST_STOP); }
EXPORT char *vhv_stop(const char *vm_id) { return request_op(vm_id, OP_STOP); }

EXPORT char *vhv_state(const char *vm_id) {
    char *err = ensure_init();
    if (!err) err = check_vm_id(vm_id);
    if (err) return err;
    pthread_mutex_lock(&g_lock);
    vm *v = find_vm(vm_id);
    vm_state st = v ? v->state : ST_STOPPED;
    pthread_mutex_unlock(&g_lock);
    if (!v) return envelope_error(E_NOT_FOUND, "no VM with id %s", vm_id);
    return envelope_vm_state(vm_id, st);
}

EXPORT char *vhv_capture_display(const char *vm_id, uint32_t display_index, const char *path) {
    char *err = ensure_init();
    if (!err) err = check_vm_id(vm_id);
    if (err) return err;
    if (!path || path[0] != '/') return envelope_error(E_INVALID_ARGUMENT, "path must be an absolute file path");
    pthread_mutex_lock(&g_lock);
    vm *v = find_vm(vm_id);
    if (!v) {
        pthread_mutex_unlock(&g_lock);
        return envelope_error(E_NOT_FOUND, "no VM with id %s", vm_id);
    }
    if (v->cfg.display_count == 0 || display_index >= v->cfg.display_count) {
        size_t n = v->cfg.display_count;
        pthread_mutex_unlock(&g_lock);
        if (n == 0) return envelope_error(E_INVALID_ARGUMENT, "VM %s has no display", vm_id);
        return envelope_error(E_INVALID_ARGUMENT, "VM %s has no display %u (it has %zu)", vm_id, display_index, n);
    }
    vm_state st = v->state;
    if (st == ST_STOPPED || st == ST_STARTING) {
        pthread_mutex_unlock(&g_lock);
        return envelope_error(E_INVALID_STATE, "VM %s is %s: there is no frame to capture", vm_id, STATE_NAMES[st]);
    }
    if (st != ST_PAUSED) v->frames++; /* a paused guest shows the same frame */
    uint64_t frame = v->frames;
    sim_display d = v->cfg.displays[display_index];
    pthread_mutex_unlock(&g_lock);

    char msg[1100];
    if (!sim_display_write_ppm(path, d.width, d.height, frame, vm_id, msg, sizeof msg))
        return envelope_error(E_HYPERVISOR_ERROR, "%s", msg);
    json_buf r;
    jb_init(&r);
    jb_printf(&r, "{\"width\":%d,\"height\":%d,\"format\":\"ppm\"}", d.width, d.height);
    return envelope_ok(&r);
}

EXPORT char *vhv_guest_addresses(const char *vm_id) {
    char *err = ensure_init();
    if (!err) err = check_vm_id(vm_id);
    if (err) return err;
    json_buf r;
    jb_init(&r);
    pthread_mutex_lock(&g_lock);
    vm *v = find_vm(vm_id);
    if (!v) {
        pthread_mutex_unlock(&g_lock);
        jb_discard(&r);
        return envelope_error(E_NOT_FOUND, "no VM with id %s", vm_id);
    }
    /* Written under the lock (no callback is made here): the configuration may go with the VM. */
    jb_raw(&r, "{\"vm_id\":");
    jb_string(&r, vm_id);
    jb_raw(&r, ",\"nics\":[");
    for (size_t i = 0; i < v->cfg.nic_count; i++) {
        jb_raw(&r, i ? ",{\"mac\":" : "{\"mac\":");
        if (v->cfg.nic_macs[i]) jb_string(&r, v->cfg.nic_macs[i]);
        else jb_raw(&r, "null");
        jb_raw(&r, ",\"ip_addresses\":[");
        if (i == 0 && v->state == ST_RUNNING)
            for (size_t k = 0; k < v->cfg.guest_address_count; k++) {
                if (k) jb_raw(&r, ",");
                jb_string(&r, v->cfg.guest_addresses[k]);
            }
        jb_raw(&r, "]}");
    }
    pthread_mutex_unlock(&g_lock);
    jb_raw(&r, "]}");
    return envelope_ok(&r);
}

EXPORT char *vhv_destroy(const char *vm_id) {
    char *err = ensure_init();
    if (!err) err = check_vm_id(vm_id);
    if (err) return err;
    pthread_mutex_lock(&g_lock);
    vm **link = &g_vms[bucket_of(vm_id)];
    while (*link && strcmp((*link)->id, vm_id) != 0) link = &(*link)->next;
    vm *v = *link;
    if (!v) {
        pthread_mutex_unlock(&g_lock);
        return envelope_error(E_NOT_FOUND, "no VM with id %s", vm_id);
    }
    if (v->state != ST_STOPPED || v->busy || v->op != OP_NONE) {
        char *e = envelope_error(E_INVALID_STATE, "cannot destroy VM %s: it is %s, not STOPPED", vm_id,
                                 STATE_NAMES[v->state]);
        pthread_mutex_unlock(&g_lock);
        return e;
    }
    *link = v->next;
    timer_cancel(&v->trans);
    timer_cancel(&v->guest);
    pthread_mutex_unlock(&g_lock);
    sim_console_close(v->con, NULL); /* NULL for a stopped VM; kept for safety */
    sim_config_free(&v->cfg);
    free(v->id);
    free(v);
    return envelope_vm_state(vm_id, ST_STOPPED);
}
