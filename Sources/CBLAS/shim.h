#ifndef LOUPE_CBLAS_SHIM_H
#define LOUPE_CBLAS_SHIM_H
#include <cblas.h>

/* LAPACK routines shipped inside OpenBLAS (Fortran calling convention). */
void sgesdd_(const char *jobz, const int *m, const int *n, float *a, const int *lda, float *s,
             float *u, const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork,
             int *iwork, int *info);
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info);

/* glibc allocator tuning (mallopt), used by LoupeTensor's storage to keep freed buffers. */
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif
#endif
