#include <png.h>
#include "cpng.h"
int loupe_png_version(void) { return (int)png_access_version_number(); }
