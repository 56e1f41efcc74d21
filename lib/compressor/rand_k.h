/* Private: the subset draw of rand-k, for exact shortcuts that need only the kept
 * coordinates (lib/optimizer/dcsgd.c). */
#ifndef SDV_RAND_K_H
#define SDV_RAND_K_H

#include <stddef.h>

#include <sdv/compressor.h>
#include <sdv/rng.h>

/* For c of type sdv_compressor_rand_k: draws the k-subset exactly as c's apply() does (the
 * same numbers from s, in the same order), writes its coordinates to kept[0..k) in draw order
 * and returns k. C(v) is then (d/k) v_j at those j and 0 elsewhere. Uses c's scratch. */
size_t sdv_rand_k_subset(sdv_compressor *c, sdv_stream *s, size_t *kept);

#endif
