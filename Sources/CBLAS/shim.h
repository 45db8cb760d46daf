#ifndef LOUPE_CBLAS_SHIM_H
#define LOUPE_CBLAS_SHIM_H
#include <cblas.h>

/* LAPACK routines shipped inside OpenBLAS (Fortran calling convention). */
void sgesdd_(const char *jobz, const int *m, const int *n, float *a, const int *lda, float *s,
             float *u, const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork,
             int *iwork, int *info);
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info);

/* 1 when the target CPU has fused multiply-add (x86-64 with -target-cpu native on FMA machines,
   every arm64): FastMath then evaluates its polynomials with FMA instructions; without it, a
   fused multiply-add would be a libm call per element, so it multiplies and adds instead. */
#if defined(__FMA__) || defined(__aarch64__)
#define LOUPE_HAS_FMA 1
#else
#define LOUPE_HAS_FMA 0
#endif

/* Busy-wait hint for spinning threads (PAUSE on x86, YIELD on arm64). */
static inline void loupe_cpu_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Non-temporal ("streaming") store of 16 floats to a 64-byte aligned address: the line goes to
   memory without first being read into the cache, for outputs larger than the caches (a plain
   store reads every line it writes). Swift sees loupe_float16 as SIMD16<Float>. Streaming stores
   are weakly ordered: loupe_stream_fence() makes them visible before the worker reports done. */
typedef float loupe_float16 __attribute__((ext_vector_type(16)));
static inline void loupe_stream16(float *p, loupe_float16 v) {
    __builtin_nontemporal_store(v, (loupe_float16 *)p);
}
static inline void loupe_stream_fence(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_sfence();
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

/* glibc allocator tuning (mallopt), used by LoupeTensor's storage to keep freed buffers. */
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif
#endif
