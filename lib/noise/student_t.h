/* Private: fast paths of the Student-t law for exact shortcuts (lib/optimizer/dsignsgd.c). */
#ifndef SDV_STUDENT_T_H
#define SDV_STUDENT_T_H

#include <stdbool.h>

#include <sdv/noise.h>

/* For a student-t law with nu = 3 and finite y: m(y) and 1 - |m(y)| from one arctangent,
 * each with relative accuracy (within a few ulps of sign_mean and sign_tail), and true.
 * false (nothing written) for any other law or y; then use the type's functions. */
bool sdv_student_t_sign_pair(const sdv_noise *law, double y, double *m, double *tail);

#endif
