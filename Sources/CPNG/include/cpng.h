#ifndef LOUPE_CPNG_H
#define LOUPE_CPNG_H
#include <stddef.h>
#include <stdint.h>

/* Safe wrappers around libpng. libpng reports errors by longjmp; every libpng call happens
 * inside these functions, which set up setjmp themselves and return 0 on success or -1 with a
 * NUL-terminated message in `message`. Callers never see a longjmp. */

/** A decoded image: planar float32 [channels][height][width] in [0, 1]. */
typedef struct {
    int width;
    int height;
    /** 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA (palette and tRNS are expanded). */
    int channels;
    /** Bit depth of the file's samples (1, 2, 4, 8 or 16). */
    int bit_depth;
    /** PNG colour type of the file (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA). */
    int color_type;
    /** malloc'd planar samples; release with loupe_png_free. */
    float *pixels;
} loupe_png_image;

/** Returns libpng's version number, e.g. 10639. */
int loupe_png_version(void);

/** Reads only the header: width, height, bit depth and colour type (pixels stays NULL). */
int loupe_png_read_header(const unsigned char *data, size_t size, loupe_png_image *out,
                          char *message, size_t message_size);

/** Decodes a whole PNG held in memory. Images of more than `max_pixels` pixels are refused
 * before any pixel memory is allocated. */
int loupe_png_decode(const unsigned char *data, size_t size, uint64_t max_pixels, loupe_png_image *out,
                     char *message, size_t message_size);

/** Encodes planar float32 samples [channels][height][width] (channels 1-4), clamped to [0, 1]
 * (NaN becomes 0), as an 8- or 16-bit PNG into a malloc'd buffer (release with loupe_png_free). */
int loupe_png_encode(const float *planar, int channels, int width, int height, int bit_depth,
                     int compression_level, unsigned char **out_data, size_t *out_size,
                     char *message, size_t message_size);

/** Releases memory returned by the functions above. */
void loupe_png_free(void *pointer);

#endif
