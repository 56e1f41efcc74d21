/* rng_blocks.h — the block generator behind sdv streams (internal; tests use it).
 *
 * Block n of a stream with key k and tag t is Philox4x32-10 (Random123) of the counter
 * (lo32(n), hi32(n), lo32(t), hi32(t)) under the key (lo32(k), hi32(k)); its four 32-bit
 * outputs x0..x3 give the two 64-bit words x0 | x1 << 32 and x2 | x3 << 32, in that order.
 * sdv_rng_blocks writes SDV_STREAM_BLOCKS consecutive blocks starting at block `first`
 * (2 SDV_STREAM_BLOCKS words) with the fastest kernel the CPU has; the portable kernel and,
 * on x86-64, the AVX2 kernel are exposed so that tests can hold each to Random123. Also the
 * library's internal batch draws.
 */
#ifndef SDV_RNG_BLOCKS_H
#define SDV_RNG_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sdv/rng.h>

void sdv_rng_blocks(uint64_t key, uint64_t tag, uint64_t first, uint64_t *out);
void sdv_rng_blocks_portable(uint64_t key, uint64_t tag, uint64_t first, uint64_t *out);
/* True where the AVX2 kernel exists and this CPU runs it; then sdv_rng_blocks_avx2 may be
 * called (elsewhere it falls back to the portable kernel). */
bool sdv_rng_have_avx2(void);
/* Decides the kernel again from the CPU and SDV_RNG_PORTABLE (done once, at the first draw;
 * tests call it after changing the environment). */
void sdv_rng_choose_kernel(void);
void sdv_rng_blocks_avx2(uint64_t key, uint64_t tag, uint64_t first, uint64_t *out);

/* The two kernels behind sdv_stream_normals (which picks one as sdv_rng_blocks does): the
 * same normals from the same words, leaving the stream at the same position. The AVX2 one
 * may be called where sdv_rng_have_avx2() (elsewhere it is the portable one). */
void sdv_rng_normals_portable(sdv_stream *s, double *out, size_t n);
void sdv_rng_normals_avx2(sdv_stream *s, double *out, size_t n);

/* k[j] = sdv_stream_binomial(s, n, p[j]) for j = 0, 1, ..., count - 1, in that order: the same
 * draws from the same words, without a call per draw (the DSignSGD shortcut's inner loop). */
void sdv_rng_binomials(sdv_stream *s, size_t n, const double *p, size_t count, double *k);

#endif
