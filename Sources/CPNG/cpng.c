#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpng.h"

int loupe_png_version(void) { return (int)png_access_version_number(); }

void loupe_png_free(void *pointer) { free(pointer); }

typedef struct {
    char *message;
    size_t message_size;
} error_context;

static void set_message(char *message, size_t message_size, const char *text) {
    if (message && message_size > 0) snprintf(message, message_size, "%s", text);
}

static void on_error(png_structp png, png_const_charp text) {
    error_context *context = (error_context *)png_get_error_ptr(png);
    if (context) set_message(context->message, context->message_size, text ? text : "libpng error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t position;
} memory_reader;

static void read_memory(png_structp png, png_bytep out, size_t length) {
    memory_reader *reader = (memory_reader *)png_get_io_ptr(png);
    if (length > reader->size - reader->position) png_error(png, "file is truncated");
    memcpy(out, reader->data + reader->position, length);
    reader->position += length;
}

static int check_signature(const unsigned char *data, size_t size, char *message, size_t message_size) {
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        set_message(message, message_size, "not a PNG file (bad signature)");
        return -1;
    }
    return 0;
}

/* Creates a libpng reader reporting through `context`; on failure sets the message and returns -1. */
static int create_reader(error_context *context, png_structp *png, png_infop *info,
                         char *message, size_t message_size) {
    *png = png_create_read_struct(PNG_LIBPNG_VER_STRING, context, on_error, on_warning);
    if (!*png) {
        set_message(message, message_size, "out of memory");
        return -1;
    }
    *info = png_create_info_struct(*png);
    if (!*info) {
        png_destroy_read_struct(png, NULL, NULL);
        set_message(message, message_size, "out of memory");
        return -1;
    }
    return 0;
}

int loupe_png_read_header(const unsigned char *data, size_t size, loupe_png_image *out,
                          char *message, size_t message_size) {
    memset(out, 0, sizeof(*out));
    if (check_signature(data, size, message, message_size) != 0) return -1;
    error_context context = {message, message_size};
    memory_reader reader = {data, size, 0};
    png_structp png = NULL;
    png_infop info = NULL;
    if (create_reader(&context, &png, &info, message, message_size) != 0) return -1;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_set_read_fn(png, &reader, read_memory);
    png_read_info(png, info);
    out->width = (int)png_get_image_width(png, info);
    out->height = (int)png_get_image_height(png, info);
    out->bit_depth = png_get_bit_depth(png, info);
    out->color_type = png_get_color_type(png, info);
    out->channels = png_get_channels(png, info);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

int loupe_png_decode(const unsigned char *data, size_t size, uint64_t max_pixels, loupe_png_image *out,
                     char *message, size_t message_size) {
    memset(out, 0, sizeof(*out));
    if (check_signature(data, size, message, message_size) != 0) return -1;
    error_context context = {message, message_size};
    memory_reader reader = {data, size, 0};
    png_structp png = NULL;
    png_infop info = NULL;
    if (create_reader(&context, &png, &info, message, message_size) != 0) return -1;
    /* Heap blocks live in volatile locals so the longjmp path frees what was allocated. */
    unsigned char *volatile samples = NULL;
    png_bytep *volatile rows = NULL;
    float *volatile pixels = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(samples);
        free(rows);
        free(pixels);
        return -1;
    }
    png_set_read_fn(png, &reader, read_memory);
    png_set_user_limits(png, 0x7fffffffU, 0x7fffffffU);
    png_set_chunk_malloc_max(png, 64u << 20);
    png_read_info(png, info);

    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    int bit_depth = png_get_bit_depth(png, info);
    int color_type = png_get_color_type(png, info);
    if ((uint64_t)width * (uint64_t)height > max_pixels) {
        char text[160];
        snprintf(text, sizeof text, "image of %u x %u pixels exceeds the limit of %llu pixels",
                 (unsigned)width, (unsigned)height, (unsigned long long)max_pixels);
        png_error(png, text);
    }
    {
        /* Deflate compresses at most 1032:1, so a file this small cannot hold the image: refuse
         * before allocating memory for it (a tiny file must not make us allocate gigabytes). */
        uint64_t bits = (uint64_t)width * (uint64_t)png_get_channels(png, info) * (uint64_t)bit_depth;
        uint64_t raw = ((bits + 7) / 8 + 1) * (uint64_t)height;
        if (raw > (uint64_t)size * 1100u + 4096u) {
            char text[160];
            snprintf(text, sizeof text, "file of %llu bytes is too small to hold a %u x %u image (truncated?)",
                     (unsigned long long)size, (unsigned)width, (unsigned)height);
            png_error(png, text);
        }
    }
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16) png_set_swap(png); /* host (little-endian) order */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    int depth = png_get_bit_depth(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if (channels < 1 || channels > 4 || (depth != 8 && depth != 16) ||
        row_bytes != (size_t)width * (size_t)channels * (size_t)(depth / 8)) {
        png_error(png, "unsupported pixel layout");
    }
    size_t plane = (size_t)width * (size_t)height;
    samples = (unsigned char *)malloc(row_bytes * (size_t)height + 1);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * ((size_t)height + 1));
    pixels = (float *)malloc(sizeof(float) * plane * (size_t)channels + 1);
    if (!samples || !rows || !pixels) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = samples + (size_t)y * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    if (depth == 8) {
        /* v / 255 exactly as PyTorch computes it (a table: division per pixel is slow). */
        float table[256];
        for (int v = 0; v < 256; v++) table[v] = (float)v / 255.0f;
        for (png_uint_32 y = 0; y < height; y++) {
            const unsigned char *row = rows[y];
            for (int c = 0; c < channels; c++) {
                float *dst = pixels + (size_t)c * plane + (size_t)y * width;
                for (png_uint_32 x = 0; x < width; x++) dst[x] = table[row[(size_t)x * channels + c]];
            }
        }
    } else {
        for (png_uint_32 y = 0; y < height; y++) {
            const uint16_t *row = (const uint16_t *)rows[y];
            for (int c = 0; c < channels; c++) {
                float *dst = pixels + (size_t)c * plane + (size_t)y * width;
                for (png_uint_32 x = 0; x < width; x++) dst[x] = (float)row[(size_t)x * channels + c] / 65535.0f;
            }
        }
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(samples);
    free(rows);
    out->width = (int)width;
    out->height = (int)height;
    out->channels = channels;
    out->bit_depth = bit_depth;
    out->color_type = color_type;
    out->pixels = pixels;
    return 0;
}

typedef struct {
    unsigned char *data;
    size_t size;
    size_t capacity;
} memory_writer;

static void write_memory(png_structp png, png_bytep bytes, size_t length) {
    memory_writer *writer = (memory_writer *)png_get_io_ptr(png);
    if (length > ((size_t)-1) / 2 - writer->size) png_error(png, "image too large");
    if (writer->size + length > writer->capacity) {
        size_t capacity = writer->capacity ? writer->capacity : 4096;
        while (capacity < writer->size + length) capacity *= 2;
        unsigned char *grown = (unsigned char *)realloc(writer->data, capacity);
        if (!grown) png_error(png, "out of memory");
        writer->data = grown;
        writer->capacity = capacity;
    }
    memcpy(writer->data + writer->size, bytes, length);
    writer->size += length;
}

static void flush_memory(png_structp png) { (void)png; }

static inline float clamp_unit(float v) {
    if (!(v > 0.0f)) return 0.0f; /* also NaN */
    if (v > 1.0f) return 1.0f;
    return v;
}

int loupe_png_encode(const float *planar, int channels, int width, int height, int bit_depth,
                     int compression_level, unsigned char **out_data, size_t *out_size,
                     char *message, size_t message_size) {
    *out_data = NULL;
    *out_size = 0;
    if (channels < 1 || channels > 4 || width < 1 || height < 1 || (bit_depth != 8 && bit_depth != 16)) {
        set_message(message, message_size, "unsupported image layout");
        return -1;
    }
    static const int color_types[4] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                       PNG_COLOR_TYPE_RGB_ALPHA};
    error_context context = {message, message_size};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &context, on_error, on_warning);
    if (!png) {
        set_message(message, message_size, "out of memory");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        set_message(message, message_size, "out of memory");
        return -1;
    }
    memory_writer writer = {NULL, 0, 0};
    unsigned char *volatile row = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(row);
        free(writer.data);
        return -1;
    }
    png_set_write_fn(png, &writer, write_memory, flush_memory);
    if (compression_level >= 0 && compression_level <= 9) png_set_compression_level(png, compression_level);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bit_depth, color_types[channels - 1],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t bytes_per_sample = (size_t)bit_depth / 8;
    size_t plane = (size_t)width * (size_t)height;
    row = (unsigned char *)malloc((size_t)width * (size_t)channels * bytes_per_sample);
    if (!row) png_error(png, "out of memory");
    for (int y = 0; y < height; y++) {
        for (int c = 0; c < channels; c++) {
            const float *src = planar + (size_t)c * plane + (size_t)y * width;
            if (bit_depth == 8) {
                for (int x = 0; x < width; x++)
                    row[(size_t)x * channels + c] = (unsigned char)(clamp_unit(src[x]) * 255.0f + 0.5f);
            } else {
                for (int x = 0; x < width; x++) {
                    unsigned v = (unsigned)(clamp_unit(src[x]) * 65535.0f + 0.5f);
                    unsigned char *p = row + ((size_t)x * channels + c) * 2;
                    p[0] = (unsigned char)(v >> 8);
                    p[1] = (unsigned char)(v & 0xff);
                }
            }
        }
        png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    *out_data = writer.data;
    *out_size = writer.size;
    return 0;
}
