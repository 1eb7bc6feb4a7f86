/* display.c — renders a simulated display frame and writes it as a binary PPM (P6).
 *
 * The picture is clearly not blank and changes from frame to frame: a diagonal colour
 * gradient, a white frame, a box that moves with the frame counter and the counter
 * itself in large digits in the top-left corner.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim_internal.h"

/* 3×5 digit glyphs, one row per 3 bits, top row first. */
static const unsigned short DIGITS[10] = {
    0x7B6F, /* 111 101 101 101 111 */
    0x2C97, /* 010 110 010 010 111 */
    0x73E7, /* 111 001 111 100 111 */
    0x73CF, /* 111 001 111 001 111 */
    0x5BC9, /* 101 101 111 001 001 */
    0x79CF, /* 111 100 111 001 111 */
    0x79EF, /* 111 100 111 101 111 */
    0x7292, /* 111 001 010 010 010 */
    0x7BEF, /* 111 101 111 101 111 */
    0x7BCF, /* 111 101 111 001 111 */
};

static int glyph_on(int digit, int gx, int gy) {
    int bit = 14 - (gy * 3 + gx);
    return (DIGITS[digit] >> bit) & 1;
}

int sim_display_write_ppm(const char *path, int w, int h, uint64_t frame, const char *label, char *msg,
                          size_t msglen) {
    (void)label;
    unsigned char *row = malloc((size_t)w * 3);
    if (!row) { snprintf(msg, msglen, "out of memory"); return 0; }
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(msg, msglen, "cannot write %s: %s", path, strerror(errno));
        free(row);
        return 0;
    }
    char digits[24];
    int ndigits = snprintf(digits, sizeof digits, "%llu", (unsigned long long)frame);
    int scale = h / 90 > 2 ? h / 90 : 2;                       /* size of one glyph dot */
    int text_x = 12, text_y = 12, cell = 4 * scale;             /* glyph 3 dots + 1 gap */
    int text_w = ndigits * cell + scale, text_h = 7 * scale;    /* dark plate behind digits */
    int box = (w < h ? w : h) / 6;
    int box_x = (int)((frame * 37u) % (uint64_t)(w - box)), box_y = (int)((frame * 23u) % (uint64_t)(h - box));
    int ok = fprintf(f, "P6\n%d %d\n255\n", w, h) > 0;
    for (int y = 0; ok && y < h; y++) {
        for (int x = 0; x < w; x++) {
            unsigned char *p = row + (size_t)x * 3;
            int r = x * 255 / (w - 1), g = y * 255 / (h - 1), b = (int)((frame * 8u + (uint64_t)(x + y) / 4u) & 255u);
            if (x < 4 || y < 4 || x >= w - 4 || y >= h - 4) { r = g = b = 255; }
            else if (x >= box_x && x < box_x + box && y >= box_y && y < box_y + box) { r = 255; g = 200; b = 0; }
            if (x >= text_x && x < text_x + text_w && y >= text_y && y < text_y + text_h) {
                r = g = b = 16;
                int lx = x - text_x - scale, ly = y - text_y - scale;
                if (lx >= 0 && ly >= 0 && ly < 5 * scale) {
                    int d = lx / cell, gx = (lx % cell) / scale, gy = ly / scale;
                    if (d < ndigits && gx < 3 && glyph_on(digits[d] - '0', gx, gy)) r = g = b = 240;
                }
            }
            p[0] = (unsigned char)r;
            p[1] = (unsigned char)g;
            p[2] = (unsigned char)b;
        }
        ok = fwrite(row, 3, (size_t)w, f) == (size_t)w;
    }
    if (fclose(f) != 0) ok = 0;
    free(row);
    if (!ok) {
        snprintf(msg, msglen, "cannot write %s: %s", path, strerror(errno));
        unlink(path);
        return 0;
    }
    return 1;
}
