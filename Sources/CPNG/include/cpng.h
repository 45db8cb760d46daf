#ifndef LOUPE_CPNG_H
#define LOUPE_CPNG_H
#include <stddef.h>
/* Safe wrappers around libpng (its longjmp error path stays inside C). Filled in by LoupeIO. */
int loupe_png_version(void);
#endif
