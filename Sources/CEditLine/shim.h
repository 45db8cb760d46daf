#ifndef LOUPE_CEDITLINE_SHIM_H
#define LOUPE_CEDITLINE_SHIM_H
#include <stdio.h>
#include <histedit.h>
#endif
