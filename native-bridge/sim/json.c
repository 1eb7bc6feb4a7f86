/* json.c — see json.h. Recursive descent with a depth limit; strict RFC 8259 input. */
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

typedef struct {
    const char *p;
    const char *start;
    char *err;
    size_t errlen;
    int failed;
} parser;

static void fail(parser *ps, const char *what) {
    if (ps->failed) return;
    ps->failed = 1;
    snprintf(ps->err, ps->errlen, "invalid JSON at offset %ld: %s", (long)(ps->p - ps->start), what);
}

static void skip_ws(parser *ps) {
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r') ps->p++;
}

static json_value *new_value(parser *ps, json_type t) {
    json_value *v = calloc(1, sizeof *v);
    if (!v) fail(ps, "out of memory");
    else v->type = t;
    return v;
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F)); return 4;
}

/* Parses a string starting at the opening quote; returns a malloc'd UTF-8 copy. */
static char *parse_string_raw(parser *ps) {
    const char *s = ++ps->p; /* after the quote */
    size_t n = 0;
    /* The decoded form is never longer than the escaped form. */
    const char *q = s;
    while (*q && *q != '"') { if (*q == '\\' && q[1]) q++; q++; n++; }
    if (*q != '"') { fail(ps, "unterminated string"); return NULL; }
    char *out = malloc((size_t)(q - s) + 1);
    if (!out) { fail(ps, "out of memory"); return NULL; }
    char *o = out;
    while (*ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p;
        if (c < 0x20) { fail(ps, "control character in string"); free(out); return NULL; }
        if (c != '\\') { *o++ = (char)c; ps->p++; continue; }
        ps->p++;
        switch (*ps->p) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!hex4(ps->p + 1, &cp)) { fail(ps, "bad \\u escape"); free(out); return NULL; }
            ps->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (ps->p[1] != '\\' || ps->p[2] != 'u' || !hex4(ps->p + 3, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    fail(ps, "unpaired surrogate"); free(out); return NULL;
                }
                ps->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail(ps, "unpaired surrogate"); free(out); return NULL;
            }
            if (cp == 0) { fail(ps, "NUL character in string"); free(out); return NULL; }
            o += put_utf8(o, cp);
            break;
        }
        default: fail(ps, "bad escape"); free(out); return NULL;
        }
        ps->p++;
    }
    ps->p++; /* closing quote */
    *o = '\0';
    (void)n;
    return out;
}

static json_value *parse_value(parser *ps, int depth);

static json_value *parse_number(parser *ps) {
    const char *s = ps->p;
    if (*ps->p == '-') ps->p++;
    if (*ps->p == '0') ps->p++;
    else if (*ps->p >= '1' && *ps->p <= '9') while (*ps->p >= '0' && *ps->p <= '9') ps->p++;
    else { fail(ps, "bad number"); return NULL; }
    if (*ps->p == '.') {
        ps->p++;
        if (!(*ps->p >= '0' && *ps->p <= '9')) { fail(ps, "bad number"); return NULL; }
        while (*ps->p >= '0' && *ps->p <= '9') ps->p++;
    }
    if (*ps->p == 'e' || *ps->p == 'E') {
        ps->p++;
        if (*ps->p == '+' || *ps->p == '-') ps->p++;
        if (!(*ps->p >= '0' && *ps->p <= '9')) { fail(ps, "bad number"); return NULL; }
        while (*ps->p >= '0' && *ps->p <= '9') ps->p++;
    }
    json_value *v = new_value(ps, JSON_NUMBER);
    if (!v) return NULL;
    char buf[64];
    size_t len = (size_t)(ps->p - s);
    if (len >= sizeof buf) { v->number = strtod(s, NULL); }
    else { memcpy(buf, s, len); buf[len] = '\0'; v->number = strtod(buf, NULL); }
    if (!isfinite(v->number)) { fail(ps, "number out of range"); free(v); return NULL; }
    return v;
}

static json_value *parse_container(parser *ps, int depth, int is_object) {
    json_value *v = new_value(ps, is_object ? JSON_OBJECT : JSON_ARRAY);
    if (!v) return NULL;
    ps->p++;
    skip_ws(ps);
    char close = is_object ? '}' : ']';
    if (*ps->p == close) { ps->p++; return v; }
    json_value **tail = &v->child;
    for (;;) {
        char *key = NULL;
        skip_ws(ps);
        if (is_object) {
            if (*ps->p != '"') { fail(ps, "expected a member name"); json_free(v); return NULL; }
            key = parse_string_raw(ps);
            if (!key) { json_free(v); return NULL; }
            skip_ws(ps);
            if (*ps->p != ':') { fail(ps, "expected ':'"); free(key); json_free(v); return NULL; }
            ps->p++;
        }
        json_value *item = parse_value(ps, depth + 1);
        if (!item) { free(key); json_free(v); return NULL; }
        item->key = key;
        *tail = item;
        tail = &item->next;
        skip_ws(ps);
        if (*ps->p == ',') { ps->p++; continue; }
        if (*ps->p == close) { ps->p++; return v; }
        fail(ps, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
        json_free(v);
        return NULL;
    }
}

static json_value *parse_value(parser *ps, int depth) {
    if (depth > JSON_MAX_DEPTH) { fail(ps, "nested too deeply"); return NULL; }
    skip_ws(ps);
    switch (*ps->p) {
    case '{': return parse_container(ps, depth, 1);
    case '[': return parse_container(ps, depth, 0);
    case '"': {
        char *s = parse_string_raw(ps);
        if (!s) return NULL;
        json_value *v = new_value(ps, JSON_STRING);
        if (!v) { free(s); return NULL; }
        v->string = s;
        return v;
    }
    case 't':
        if (strncmp(ps->p, "true", 4) == 0) {
            ps->p += 4;
            json_value *v = new_value(ps, JSON_BOOL);
            if (v) v->boolean = 1;
            return v;
        }
        break;
    case 'f':
        if (strncmp(ps->p, "false", 5) == 0) { ps->p += 5; return new_value(ps, JSON_BOOL); }
        break;
    case 'n':
        if (strncmp(ps->p, "null", 4) == 0) { ps->p += 4; return new_value(ps, JSON_NULL); }
        break;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return parse_number(ps);
    }
    fail(ps, *ps->p ? "unexpected character" : "unexpected end of input");
    return NULL;
}

json_value *json_parse(const char *text, char *err, size_t errlen) {
    parser ps = { text, text, err, errlen, 0 };
    if (!text) { snprintf(err, errlen, "no JSON text"); return NULL; }
    json_value *v = parse_value(&ps, 0);
    if (!v) return NULL;
    skip_ws(&ps);
    if (*ps.p) { fail(&ps, "trailing characters"); json_free(v); return NULL; }
    return v;
}

void json_free(json_value *v) {
    while (v) {
        json_value *next = v->next;
        json_free(v->child);
        free(v->string);
        free(v->key);
        free(v);
        v = next;
    }
}

const json_value *json_get(const json_value *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    const json_value *found = NULL;
    for (const json_value *c = obj->child; c; c = c->next)
        if (strcmp(c->key, key) == 0) found = c; /* last one wins, like JavaScript */
    return found;
}

size_t json_length(const json_value *arr) {
    size_t n = 0;
    if (arr) for (const json_value *c = arr->child; c; c = c->next) n++;
    return n;
}

/* ---- writer ---- */

void jb_init(json_buf *b) { b->data = NULL; b->len = b->cap = 0; b->failed = 0; }

static int jb_reserve(json_buf *b, size_t extra) {
    if (b->failed) return 0;
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + extra + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) { b->failed = 1; return 0; }
    b->data = d;
    b->cap = cap;
    return 1;
}

static void jb_mem(json_buf *b, const char *s, size_t n) {
    if (!jb_reserve(b, n)) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void jb_raw(json_buf *b, const char *s) { jb_mem(b, s, strlen(s)); }

void jb_printf(json_buf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) { b->failed = 1; return; }
    if ((size_t)n < sizeof small) { jb_mem(b, small, (size_t)n); return; }
    if (!jb_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void jb_string(json_buf *b, const char *s) {
    jb_mem(b, "\"", 1);
    if (!s) s = "";
    const char *run = s;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *esc = NULL;
        char ubuf[8];
        switch (*p) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (*p < 0x20) { snprintf(ubuf, sizeof ubuf, "\\u%04x", *p); esc = ubuf; }
        }
        if (esc) {
            jb_mem(b, run, (size_t)((const char *)p - run));
            jb_raw(b, esc);
            run = (const char *)p + 1;
        }
    }
    jb_raw(b, run);
    jb_mem(b, "\"", 1);
}

char *jb_finish(json_buf *b) {
    if (b->failed) { jb_discard(b); return NULL; }
    if (!b->data && !jb_reserve(b, 0)) return NULL;
    if (b->len == 0) b->data[0] = '\0';
    char *d = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void jb_discard(json_buf *b) { free(b->data); jb_init(b); }
