/* config.c — parses and validates a VM configuration (velocity_hv.h, vhv_create). */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim_internal.h"

static const char *const OP_NAMES[5] = { "start", "pause", "resume", "request_stop", "stop" };

typedef struct {
    char *msg;
    size_t msglen;
    const char *code;
} ctx;

static int bad(ctx *c, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(ctx *c, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, c->msglen, fmt, ap);
    va_end(ap);
    c->code = code;
    return 0;
}

static const char *type_name(const json_value *v) {
    if (!v) return "nothing";
    switch (v->type) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "a boolean";
    case JSON_NUMBER: return "a number";
    case JSON_STRING: return "a string";
    case JSON_ARRAY: return "an array";
    default: return "an object";
    }
}

static char *dup_or_null(const char *s) {
    if (!s) return NULL;
    char *d = strdup(s);
    return d;
}

/* A required or optional integer in [min, max]. */
static int get_int(ctx *c, const json_value *obj, const char *key, const char *label, int required, int64_t min,
                   int64_t max, int64_t *out) {
    const json_value *v = json_get(obj, key);
    if (!v || v->type == JSON_NULL) {
        if (required) return bad(c, E_INVALID_CONFIG, "%s is required", label);
        return 1;
    }
    if (v->type != JSON_NUMBER || v->number != floor(v->number))
        return bad(c, E_INVALID_CONFIG, "%s must be an integer, got %s", label, type_name(v));
    if (v->number < (double)min || v->number > (double)max)
        return bad(c, E_INVALID_CONFIG, "%s must be between %lld and %lld, got %.0f", label, (long long)min,
                   (long long)max, v->number);
    *out = (int64_t)v->number;
    return 1;
}

/* A required or optional string; `absolute` asks for an absolute path. */
static int get_str(ctx *c, const json_value *obj, const char *key, const char *label, int required, int absolute,
                   const char **out) {
    const json_value *v = json_get(obj, key);
    *out = NULL;
    if (!v || v->type == JSON_NULL) {
        if (required) return bad(c, E_INVALID_CONFIG, "%s is required", label);
        return 1;
    }
    if (v->type != JSON_STRING) return bad(c, E_INVALID_CONFIG, "%s must be a string, got %s", label, type_name(v));
    if (required && v->string[0] == '\0') return bad(c, E_INVALID_CONFIG, "%s must not be empty", label);
    if (absolute && v->string[0] != '/')
        return bad(c, E_INVALID_CONFIG, "%s must be an absolute path, got \"%s\"", label, v->string);
    *out = v->string;
    return 1;
}

static int get_bool(ctx *c, const json_value *obj, const char *key, const char *label, int *out) {
    const json_value *v = json_get(obj, key);
    if (!v || v->type == JSON_NULL) return 1;
    if (v->type != JSON_BOOL) return bad(c, E_INVALID_CONFIG, "%s must be a boolean, got %s", label, type_name(v));
    *out = v->boolean;
    return 1;
}

static int get_object(ctx *c, const json_value *obj, const char *key, const char *label, const json_value **out) {
    const json_value *v = json_get(obj, key);
    *out = NULL;
    if (!v || v->type == JSON_NULL) return 1;
    if (v->type != JSON_OBJECT) return bad(c, E_INVALID_CONFIG, "%s must be an object, got %s", label, type_name(v));
    *out = v;
    return 1;
}

static int get_array(ctx *c, const json_value *obj, const char *key, const json_value **out) {
    const json_value *v = json_get(obj, key);
    *out = NULL;
    if (!v || v->type == JSON_NULL) return 1;
    if (v->type != JSON_ARRAY) return bad(c, E_INVALID_CONFIG, "%s must be an array, got %s", key, type_name(v));
    *out = v;
    return 1;
}

static int valid_mac(const char *s) {
    if (strlen(s) != 17) return 0;
    for (int i = 0; i < 17; i++) {
        char ch = s[i];
        if (i % 3 == 2) { if (ch != ':') return 0; }
        else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F'))) return 0;
    }
    return 1;
}

static int parse_console(ctx *c, const json_value *root, sim_config *cfg) {
    const json_value *con;
    const char *s;
    if (!get_object(c, root, "console", "console", &con)) return 0;
    if (!con) return 1;
    if (!get_str(c, con, "output", "console.output", 0, 1, &s)) return 0;
    cfg->console_output = dup_or_null(s);
    if (!get_str(c, con, "input", "console.input", 0, 1, &s)) return 0;
    cfg->console_input = dup_or_null(s);
    return 1;
}

static int parse_disks(ctx *c, const json_value *root, sim_config *cfg) {
    const json_value *arr;
    if (!get_array(c, root, "disks", &arr)) return 0;
    size_t n = json_length(arr);
    if (n == 0) return 1;
    cfg->disks = calloc(n, sizeof *cfg->disks);
    if (!cfg->disks) return bad(c, E_INTERNAL, "out of memory");
    size_t i = 0;
    char label[64];
    for (const json_value *d = arr->child; d; d = d->next, i++) {
        snprintf(label, sizeof label, "disks[%zu]", i);
        if (d->type != JSON_OBJECT) return bad(c, E_INVALID_CONFIG, "%s must be an object, got %s", label, type_name(d));
        const char *path;
        snprintf(label, sizeof label, "disks[%zu].path", i);
        if (!get_str(c, d, "path", label, 1, 1, &path)) return 0;
        cfg->disks[i].path = strdup(path);
        cfg->disk_count = i + 1;
        snprintf(label, sizeof label, "disks[%zu].read_only", i);
        if (!get_bool(c, d, "read_only", label, &cfg->disks[i].read_only)) return 0;
    }
    return 1;
}

static int parse_nics(ctx *c, const json_value *root, sim_config *cfg, int *has_nat) {
    const json_value *arr;
    if (!get_array(c, root, "nics", &arr)) return 0;
    size_t count = json_length(arr);
    if (count > 0 && !(cfg->nic_macs = calloc(count, sizeof *cfg->nic_macs))) return bad(c, E_INTERNAL, "out of memory");
    cfg->nic_count = count; /* the MAC slots are freed by count, filled or not */
    size_t i = 0;
    char label[64];
    for (const json_value *n = arr ? arr->child : NULL; n; n = n->next, i++) {
        const char *type, *mac, *iface, *sock;
        snprintf(label, sizeof label, "nics[%zu]", i);
        if (n->type != JSON_OBJECT) return bad(c, E_INVALID_CONFIG, "%s must be an object, got %s", label, type_name(n));
        snprintf(label, sizeof label, "nics[%zu].type", i);
        if (!get_str(c, n, "type", label, 1, 0, &type)) return 0;
        snprintf(label, sizeof label, "nics[%zu].mac", i);
        if (!get_str(c, n, "mac", label, 0, 0, &mac)) return 0;
        if (mac && !valid_mac(mac))
            return bad(c, E_INVALID_CONFIG, "%s must look like 52:54:00:12:34:56, got \"%s\"", label, mac);
        if (mac && !(cfg->nic_macs[i] = strdup(mac))) return bad(c, E_INTERNAL, "out of memory");
        if (strcmp(type, "NAT") == 0) {
            *has_nat = 1;
            continue;
        }
        if (strcmp(type, "BRIDGE") == 0) {
            snprintf(label, sizeof label, "nics[%zu].interface", i);
            if (!get_str(c, n, "interface", label, 1, 0, &iface)) return 0;
            if (!sim_host_has_interface(iface))
                return bad(c, E_INVALID_CONFIG, "%s: \"%s\" is not a bridgeable interface of this host", label, iface);
        } else if (strcmp(type, "FILEHANDLE") == 0) {
            snprintf(label, sizeof label, "nics[%zu].socket", i);
            if (!get_str(c, n, "socket", label, 1, 1, &sock)) return 0;
        } else {
            return bad(c, E_INVALID_CONFIG, "nics[%zu].type must be NAT, BRIDGE or FILEHANDLE, got \"%s\"", i, type);
        }
    }
    return 1;
}

/* Validated like a forwarding driver would (the sim forwards nothing, so nothing is kept). */
static int parse_port_forwards(ctx *c, const json_value *root, int has_nat) {
    const json_value *arr;
    if (!get_array(c, root, "port_forwards", &arr)) return 0;
    if (json_length(arr) > 0 && !has_nat)
        return bad(c, E_INVALID_CONFIG, "port_forwards need a NAT NIC");
    size_t i = 0;
    char label[64];
    for (const json_value *f = arr ? arr->child : NULL; f; f = f->next, i++) {
        const char *s;
        int64_t port;
        snprintf(label, sizeof label, "port_forwards[%zu]", i);
        if (f->type != JSON_OBJECT) return bad(c, E_INVALID_CONFIG, "%s must be an object, got %s", label, type_name(f));
        snprintf(label, sizeof label, "port_forwards[%zu].protocol", i);
        if (!get_str(c, f, "protocol", label, 1, 0, &s)) return 0;
        if (strcmp(s, "tcp") != 0 && strcmp(s, "udp") != 0)
            return bad(c, E_INVALID_CONFIG, "%s must be tcp or udp, got \"%s\"", label, s);
        snprintf(label, sizeof label, "port_forwards[%zu].host_address", i);
        if (!get_str(c, f, "host_address", label, 1, 0, &s)) return 0;
        snprintf(label, sizeof label, "port_forwards[%zu].host_port", i);
        if (!get_int(c, f, "host_port", label, 1, 1, 65535, &port)) return 0;
        snprintf(label, sizeof label, "port_forwards[%zu].guest_port", i);
        if (!get_int(c, f, "guest_port", label, 1, 1, 65535, &port)) return 0;
    }
    return 1;
}

static int parse_displays(ctx *c, const json_value *root, sim_config *cfg) {
    const json_value *arr;
    if (!get_array(c, root, "displays", &arr)) return 0;
    size_t n = json_length(arr);
    if (n == 0) return 1;
    if (n > 8) return bad(c, E_INVALID_CONFIG, "at most 8 displays are supported, got %zu", n);
    cfg->displays = calloc(n, sizeof *cfg->displays);
    if (!cfg->displays) return bad(c, E_INTERNAL, "out of memory");
    size_t i = 0;
    char label[64];
    for (const json_value *d = arr->child; d; d = d->next, i++) {
        int64_t w = 0, h = 0;
        snprintf(label, sizeof label, "displays[%zu]", i);
        if (d->type != JSON_OBJECT) return bad(c, E_INVALID_CONFIG, "%s must be an object, got %s", label, type_name(d));
        snprintf(label, sizeof label, "displays[%zu].width", i);
        if (!get_int(c, d, "width", label, 1, SIM_MIN_DISPLAY_SIDE, SIM_MAX_DISPLAY_WIDTH, &w)) return 0;
        snprintf(label, sizeof label, "displays[%zu].height", i);
        if (!get_int(c, d, "height", label, 1, SIM_MIN_DISPLAY_SIDE, SIM_MAX_DISPLAY_HEIGHT, &h)) return 0;
        cfg->displays[i].width = (int)w;
        cfg->displays[i].height = (int)h;
        cfg->display_count = i + 1;
    }
    return 1;
}

static int parse_sim(ctx *c, const json_value *root, sim_config *cfg) {
    const json_value *sim, *fail;
    if (!get_object(c, root, "sim", "sim", &sim)) return 0;
    if (!sim) return 1;
    const json_value *ts = json_get(sim, "time_scale");
    if (ts && ts->type != JSON_NULL) {
        if (ts->type != JSON_NUMBER || ts->number < 0 || ts->number > 1000)
            return bad(c, E_INVALID_CONFIG, "sim.time_scale must be a number between 0 and 1000");
        cfg->time_scale *= ts->number;
    }
    if (!get_object(c, sim, "fail", "sim.fail", &fail)) return 0;
    for (const json_value *f = fail ? fail->child : NULL; f; f = f->next) {
        int idx = -1;
        for (int k = 0; k < 5; k++)
            if (strcmp(f->key, OP_NAMES[k]) == 0) idx = k;
        if (idx < 0)
            return bad(c, E_INVALID_CONFIG,
                       "sim.fail.%s is not an operation (start, pause, resume, request_stop, stop)", f->key);
        if (f->type == JSON_NULL) continue;
        if (f->type != JSON_STRING || f->string[0] == '\0')
            return bad(c, E_INVALID_CONFIG, "sim.fail.%s must be a non-empty message string", f->key);
        free(cfg->fail[idx]);
        cfg->fail[idx] = strdup(f->string);
    }
    if (!get_int(c, sim, "poweroff_after_ms", "sim.poweroff_after_ms", 0, 0, INT64_C(1) << 40, &cfg->poweroff_after_ms))
        return 0;
    if (!get_int(c, sim, "crash_after_ms", "sim.crash_after_ms", 0, 0, INT64_C(1) << 40, &cfg->crash_after_ms))
        return 0;
    const json_value *addresses;
    if (!get_array(c, sim, "guest_addresses", &addresses)) return 0;
    size_t n = json_length(addresses);
    if (n == 0) return 1;
    if (cfg->nic_count == 0) return bad(c, E_INVALID_CONFIG, "sim.guest_addresses need a NIC to be reported on");
    if (n > 16) return bad(c, E_INVALID_CONFIG, "sim.guest_addresses takes at most 16 addresses, got %zu", n);
    if (!(cfg->guest_addresses = calloc(n, sizeof *cfg->guest_addresses))) return bad(c, E_INTERNAL, "out of memory");
    size_t i = 0;
    for (const json_value *a = addresses->child; a; a = a->next, i++) {
        if (a->type != JSON_STRING || a->string[0] == '\0' || strlen(a->string) > 45)
            return bad(c, E_INVALID_CONFIG, "sim.guest_addresses[%zu] must be an address string, got %s", i, type_name(a));
        if (!(cfg->guest_addresses[i] = strdup(a->string))) return bad(c, E_INTERNAL, "out of memory");
        cfg->guest_address_count = i + 1;
    }
    return 1;
}

static int validate(ctx *c, const json_value *root, sim_config *cfg) {
    const char *s;
    int64_t n;
    if (root->type != JSON_OBJECT)
        return bad(c, E_INVALID_CONFIG, "the configuration must be a JSON object, got %s", type_name(root));

    if (!get_str(c, root, "name", "name", 1, 0, &s)) return 0;
    cfg->name = strdup(s);

    if (!get_str(c, root, "type", "type", 1, 0, &s)) return 0;
    if (strcmp(s, "MAC") == 0)
        return bad(c, E_UNSUPPORTED, "macOS guests (type MAC) are not supported by the sim driver");
    if (strcmp(s, "EFI") != 0 && strcmp(s, "KBOOT") != 0)
        return bad(c, E_INVALID_CONFIG, "type must be EFI, KBOOT or MAC, got \"%s\"", s);
    cfg->type = strdup(s);

    if (!get_int(c, root, "cpu_count", "cpu_count", 1, 1, sim_host_cpu_count(), &n)) return 0;
    cfg->cpu_count = (int)n;
    if (!get_int(c, root, "memory_size_mb", "memory_size_mb", 1, SIM_MIN_MEMORY_MB, sim_host_memory_mb(), &n))
        return 0;
    cfg->memory_mb = (int)n;

    if (!get_str(c, root, "directory", "directory", 1, 1, &s)) return 0;
    struct stat st;
    if (stat(s, &st) != 0 || !S_ISDIR(st.st_mode))
        return bad(c, E_INVALID_CONFIG, "directory \"%s\" does not exist or is not a directory", s);
    cfg->directory = strdup(s);

    int has_nat = 0;
    if (!parse_console(c, root, cfg) || !parse_disks(c, root, cfg) || !parse_nics(c, root, cfg, &has_nat) ||
        !parse_port_forwards(c, root, has_nat) || !parse_displays(c, root, cfg))
        return 0;

    int rosetta = 0;
    if (!get_bool(c, root, "rosetta", "rosetta", &rosetta)) return 0;
    if (rosetta) return bad(c, E_UNSUPPORTED, "Rosetta is not available with the sim driver");

    if (strcmp(cfg->type, "KBOOT") == 0) {
        const json_value *kb;
        if (!get_object(c, root, "kboot", "kboot", &kb)) return 0;
        if (!kb) return bad(c, E_INVALID_CONFIG, "kboot is required for type KBOOT");
        if (!get_str(c, kb, "kernel", "kboot.kernel", 1, 1, &s)) return 0;
        if (!get_str(c, kb, "initrd", "kboot.initrd", 0, 1, &s)) return 0;
        if (!get_str(c, kb, "cmdline", "kboot.cmdline", 0, 0, &s)) return 0;
    }
    return parse_sim(c, root, cfg);
}

static double env_time_scale(void) {
    const char *e = getenv("VHV_SIM_TIME_SCALE");
    if (!e || !*e) return 1.0;
    char *end;
    double v = strtod(e, &end);
    if (*end != '\0' || !(v >= 0) || v > 1000) return 1.0;
    return v;
}

const char *sim_config_parse(const char *json, sim_config *out, char *msg, size_t msglen) {
    memset(out, 0, sizeof *out);
    out->poweroff_after_ms = -1;
    out->crash_after_ms = -1;
    out->time_scale = env_time_scale();
    ctx c = { msg, msglen, NULL };
    char err[160];
    if (!json) {
        snprintf(msg, msglen, "config_json is required");
        return E_INVALID_ARGUMENT;
    }
    json_value *root = json_parse(json, err, sizeof err);
    if (!root) {
        snprintf(msg, msglen, "configuration is not valid JSON: %s", err);
        return E_INVALID_CONFIG;
    }
    int ok = validate(&c, root, out);
    json_free(root);
    if (ok && (!out->name || !out->type || !out->directory)) ok = bad(&c, E_INTERNAL, "out of memory");
    if (!ok) {
        sim_config_free(out);
        return c.code ? c.code : E_INTERNAL;
    }
    return NULL;
}

void sim_config_free(sim_config *cfg) {
    free(cfg->name);
    free(cfg->type);
    free(cfg->directory);
    free(cfg->console_output);
    free(cfg->console_input);
    for (size_t i = 0; i < cfg->disk_count; i++) free(cfg->disks[i].path);
    free(cfg->disks);
    free(cfg->displays);
    for (size_t i = 0; i < cfg->nic_count && cfg->nic_macs; i++) free(cfg->nic_macs[i]);
    free(cfg->nic_macs);
    for (size_t i = 0; i < cfg->guest_address_count; i++) free(cfg->guest_addresses[i]);
    free(cfg->guest_addresses);
    for (int i = 0; i < 5; i++) free(cfg->fail[i]);
    memset(cfg, 0, sizeof *cfg);
}
