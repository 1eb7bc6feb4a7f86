/*
 * json.h — a compact JSON reader (to a tree) and writer (to a growable buffer),
 * just enough for the velocity_hv.h envelopes and VM configurations.
 */
#ifndef VHV_SIM_JSON_H
#define VHV_SIM_JSON_H

#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value {
    json_type type;
    int boolean;
    double number;
    char *string;            /* JSON_STRING: NUL-terminated UTF-8 (no embedded NUL) */
    char *key;               /* set when this value is a member of an object */
    struct json_value *child; /* JSON_ARRAY / JSON_OBJECT: first element */
    struct json_value *next;  /* next sibling */
} json_value;

/* Parses `text`. Returns NULL on error and writes a message into err (size errlen). */
json_value *json_parse(const char *text, char *err, size_t errlen);
void json_free(json_value *v);

/* Member lookup in an object; NULL when absent or when `obj` is not an object. */
const json_value *json_get(const json_value *obj, const char *key);
size_t json_length(const json_value *arr);

/* ---- writer ---- */
typedef struct {
    char *data;
    size_t len, cap;
    int failed; /* allocation failed; the buffer is unusable */
} json_buf;

void jb_init(json_buf *b);
void jb_raw(json_buf *b, const char *s);
void jb_printf(json_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jb_string(json_buf *b, const char *s); /* writes a quoted, escaped JSON string */
/* Returns the NUL-terminated text (caller frees) or NULL if allocation failed. */
char *jb_finish(json_buf *b);
void jb_discard(json_buf *b);

#endif
