/* Private: function multi-versioning for the hot vector loops (docs/performance.md).
 *
 * SDV_CLONES in front of a function definition compiles it twice, for the baseline x86-64
 * (SSE2: two doubles per instruction) and for AVX2 (four), and the dynamic loader binds the
 * one the CPU supports (GCC/Clang target_clones, an ifunc resolved once per process).
 *
 * Both versions must give the same bits, because same seed => same numbers on any CPU:
 * - IEEE +, -, *, / and sqrt are correctly rounded whatever the vector width;
 * - nothing is contracted into a fused multiply-add: "avx2" does not enable FMA, and the
 *   library is built as ISO C11 (GCC's default there is -ffp-contract=off);
 * - no sum is reassociated: without -ffast-math the compiler keeps the order of the source,
 *   so a reduction that should vectorise is written with its own fixed partial sums (lane l
 *   adds elements j = l mod 4), which both versions then compute in the same order.
 * The tests compare each cloned kernel with a plain scalar reference bit for bit.
 *
 * Building with -DSDV_NO_CLONES (or for another architecture) gives the baseline version only.
 */
#ifndef SDV_CORE_CLONES_H
#define SDV_CORE_CLONES_H

#if defined(__x86_64__) && defined(__ELF__) && defined(__has_attribute) && !defined(SDV_NO_CLONES)
#if __has_attribute(target_clones)
#define SDV_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef SDV_CLONES
#define SDV_CLONES
#endif

/* Four doubles as one value (GCC/Clang vector extension): +, -, * act lane by lane with IEEE
 * rounding, in one AVX2 instruction or two SSE2 ones. For reductions with four fixed partial
 * sums, which the auto-vectoriser would otherwise add lane by lane in scalar order. Load one
 * with memcpy (no alignment needed; a function returning it would change the ABI between the
 * clones). */
typedef double sdv_v4d __attribute__((vector_size(4 * sizeof(double))));

#endif
