/* Private: fast paths of the Student-t law for exact shortcuts (lib/optimizer/dsignsgd.c). */
#ifndef SDV_STUDENT_T_H
#define SDV_STUDENT_T_H

#include <stdbool.h>
#include <stddef.h>

#include <sdv/noise.h>

/* For a student-t law with nu = 3 and finite y: m(y) and 1 - |m(y)| from one polynomial
 * arctangent kernel without libm (student_t.c), each with relative error <= 1.1e-15 (the
 * type's sign_mean and sign_tail are the separate libm route), and true. false (nothing
 * written) for any other law or y; then use the type's functions. */
bool sdv_student_t_sign_pair(const sdv_noise *law, double y, double *m, double *tail);

/* The same for the n values y[0..n) at once, in a loop that vectorises (an AVX2 build is
 * picked at load time where the CPU has it): m[j] and tail[j] are bitwise what
 * sdv_student_t_sign_pair gives for y[j]; y[j] = +-inf gives (+-1, 0) and NaN gives NaN in
 * both. The arrays must not overlap. false (nothing written) if the law is not nu = 3. */
bool sdv_student_t_sign_pairs(const sdv_noise *law, const double *y, size_t n, double *m,
                              double *tail);

#endif
