/* Philox4x32-10 blocks for sdv streams (Salmon, Moraes, Dror & Shaw, "Parallel random
 * numbers: as easy as 1, 2, 3", SC'11). The layout is in rng_blocks.h.
 *
 * One Philox4x32 round maps (x0, x1, x2, x3) under round key (a, b) to
 *     (hi(M1 x2) ^ x1 ^ a,  lo(M1 x2),  hi(M0 x0) ^ x3 ^ b,  lo(M0 x0)),
 * hi/lo the halves of the 64-bit product, M0 = 0xD2511F53, M1 = 0xCD9E8D57; the round key
 * grows by the Weyl constants (0x9E3779B9, 0xBB67AE85) after each of the ten rounds. The
 * portable kernel is Random123's own philox4x32_R(10, ...). The AVX2 kernel runs the same
 * rounds on eight blocks per 256-bit register (four registers, 32 blocks), with the
 * products of the even and the odd 32-bit lanes taken by two unsigned 32 x 32 -> 64
 * multiplies and blended back: integer arithmetic, so it yields the same words, bit for bit
 * (tests/test-rng.c holds both kernels to Random123 over many blocks and counter carries).
 */
#include "rng_blocks.h"

#include <stdatomic.h>
#include <stdlib.h>

#include <Random123/philox.h>

#include <sdv/rng.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define SDV_RNG_AVX2 1
#include <immintrin.h>
#endif

void sdv_rng_blocks_portable(uint64_t key, uint64_t tag, uint64_t first, uint64_t *out) {
  const philox4x32_key_t k = {{(uint32_t)key, (uint32_t)(key >> 32)}};
  for (unsigned b = 0; b < SDV_STREAM_BLOCKS; b++) {
    const uint64_t n = first + b;
    const philox4x32_ctr_t c = {
        {(uint32_t)n, (uint32_t)(n >> 32), (uint32_t)tag, (uint32_t)(tag >> 32)}};
    const philox4x32_ctr_t r = philox4x32_R(10, c, k);
    out[2 * b] = (uint64_t)r.v[0] | (uint64_t)r.v[1] << 32;
    out[2 * b + 1] = (uint64_t)r.v[2] | (uint64_t)r.v[3] << 32;
  }
}

#ifdef SDV_RNG_AVX2
#define LANES 8 /* blocks per register */
#define REGS (SDV_STREAM_BLOCKS / LANES)
_Static_assert(SDV_STREAM_BLOCKS % LANES == 0, "the AVX2 kernel fills whole registers");

__attribute__((target("avx2"))) void sdv_rng_blocks_avx2(uint64_t key, uint64_t tag, uint64_t first,
                                                         uint64_t *out) {
  uint32_t c0[SDV_STREAM_BLOCKS], c1[SDV_STREAM_BLOCKS];
  for (unsigned b = 0; b < SDV_STREAM_BLOCKS; b++) {
    const uint64_t n = first + b; /* the carry into the high word, lane by lane */
    c0[b] = (uint32_t)n;
    c1[b] = (uint32_t)(n >> 32);
  }
  __m256i x0[REGS], x1[REGS], x2[REGS], x3[REGS];
  for (unsigned v = 0; v < REGS; v++) {
    x0[v] = _mm256_loadu_si256((const __m256i *)(c0 + LANES * v));
    x1[v] = _mm256_loadu_si256((const __m256i *)(c1 + LANES * v));
    x2[v] = _mm256_set1_epi32((int)(uint32_t)tag);
    x3[v] = _mm256_set1_epi32((int)(uint32_t)(tag >> 32));
  }
  const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M4x32_0),
                m1 = _mm256_set1_epi32((int)PHILOX_M4x32_1);
  uint32_t a = (uint32_t)key, b = (uint32_t)(key >> 32);
  for (int r = 0; r < 10; r++) {
    const __m256i ka = _mm256_set1_epi32((int)a), kb = _mm256_set1_epi32((int)b);
    for (unsigned v = 0; v < REGS; v++) {
      /* Even lanes multiply in place; odd lanes after a shift down by 32 bits. */
      const __m256i e0 = _mm256_mul_epu32(x0[v], m0);
      const __m256i o0 = _mm256_mul_epu32(_mm256_srli_epi64(x0[v], 32), m0);
      const __m256i e1 = _mm256_mul_epu32(x2[v], m1);
      const __m256i o1 = _mm256_mul_epu32(_mm256_srli_epi64(x2[v], 32), m1);
      const __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(e0, 32), o0, 0xAA);
      const __m256i lo0 = _mm256_blend_epi32(e0, _mm256_slli_epi64(o0, 32), 0xAA);
      const __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(e1, 32), o1, 0xAA);
      const __m256i lo1 = _mm256_blend_epi32(e1, _mm256_slli_epi64(o1, 32), 0xAA);
      x0[v] = _mm256_xor_si256(_mm256_xor_si256(hi1, x1[v]), ka);
      x2[v] = _mm256_xor_si256(_mm256_xor_si256(hi0, x3[v]), kb);
      x1[v] = lo1;
      x3[v] = lo0;
    }
    a += PHILOX_W32_0;
    b += PHILOX_W32_1;
  }
  for (unsigned v = 0; v < REGS; v++) {
    /* Lane l of (x0, x1) interleaved gives word 0 of block l, of (x2, x3) word 1. Unpacking
     * works within 128-bit halves: blocks 0, 1, 4, 5 in the low unpacks, 2, 3, 6, 7 in the
     * high ones. */
    const __m256i l01 = _mm256_unpacklo_epi32(x0[v], x1[v]);
    const __m256i h01 = _mm256_unpackhi_epi32(x0[v], x1[v]);
    const __m256i l23 = _mm256_unpacklo_epi32(x2[v], x3[v]);
    const __m256i h23 = _mm256_unpackhi_epi32(x2[v], x3[v]);
    const __m256i b04 = _mm256_unpacklo_epi64(l01, l23); /* blocks 0 | 4 */
    const __m256i b15 = _mm256_unpackhi_epi64(l01, l23); /* blocks 1 | 5 */
    const __m256i b26 = _mm256_unpacklo_epi64(h01, h23); /* blocks 2 | 6 */
    const __m256i b37 = _mm256_unpackhi_epi64(h01, h23); /* blocks 3 | 7 */
    uint64_t *o = out + 2 * LANES * v;
    _mm256_storeu_si256((__m256i *)(o + 0), _mm256_permute2x128_si256(b04, b15, 0x20));
    _mm256_storeu_si256((__m256i *)(o + 4), _mm256_permute2x128_si256(b26, b37, 0x20));
    _mm256_storeu_si256((__m256i *)(o + 8), _mm256_permute2x128_si256(b04, b15, 0x31));
    _mm256_storeu_si256((__m256i *)(o + 12), _mm256_permute2x128_si256(b26, b37, 0x31));
  }
}

/* 1: AVX2, 0: portable, -1: not decided yet. SDV_RNG_PORTABLE=1 in the environment forces
 * the portable kernel (a diagnostic switch; the words are the same either way). */
static atomic_int kernel = -1;

void sdv_rng_choose_kernel(void) {
  __builtin_cpu_init();
  const char *force = getenv("SDV_RNG_PORTABLE");
  const int k = __builtin_cpu_supports("avx2") && !(force && force[0] == '1');
  atomic_store_explicit(&kernel, k, memory_order_relaxed);
}

bool sdv_rng_have_avx2(void) {
  if (atomic_load_explicit(&kernel, memory_order_relaxed) < 0) sdv_rng_choose_kernel();
  return atomic_load_explicit(&kernel, memory_order_relaxed) == 1;
}
#else
void sdv_rng_choose_kernel(void) {}
bool sdv_rng_have_avx2(void) { return false; }
void sdv_rng_blocks_avx2(uint64_t key, uint64_t tag, uint64_t first, uint64_t *out) {
  sdv_rng_blocks_portable(key, tag, first, out);
}
#endif

void sdv_rng_blocks(uint64_t key, uint64_t tag, uint64_t first, uint64_t *out) {
  if (sdv_rng_have_avx2())
    sdv_rng_blocks_avx2(key, tag, first, out);
  else
    sdv_rng_blocks_portable(key, tag, first, out);
}
