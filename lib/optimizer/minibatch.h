/* Private: the three built-in methods under minibatch noise (lib/optimizer/minibatch.c). Each
 * method file calls these first when model->minibatch; the signatures are the method table's. */
#ifndef SDV_OPTIMIZER_MINIBATCH_H
#define SDV_OPTIMIZER_MINIBATCH_H

#include <sdv/model.h>

/* Bytes of method scratch a minibatch model needs (the n weights and n normals of the
 * increment), 0 without minibatch noise: the built-in methods' sdv_method_type.scratch. */
size_t sdv_mb_scratch(const sdv_model *m);
/* Method-specific checks of a minibatch model (DSignSGD: finite added variance). */
int sdv_mb_validate(const sdv_model *m);
/* One step of the model's method with minibatch gradients. */
int sdv_mb_step(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise, sdv_stream *comp);
/* DSGD and DCSGD: b = -(1/N) sum_i grad f_i(x); diffusion SAMPLED (SDV_ENOTSUP for infinite
 * added variance); increment as documented in minibatch.c. */
void sdv_mb_drift(const sdv_model *m, sdv_work *w, const double *x, double *b);
int sdv_mb_diffusion(const sdv_model *m, sdv_work *w, const double *x, sdv_diffusion *D);
int sdv_mb_increment(const sdv_model *m, sdv_work *w, const double *x, sdv_stream *s, double *out);
/* DSignSGD: the Gaussian (CLT) drift and diagonal diffusion. */
void sdv_mb_sign_drift(const sdv_model *m, sdv_work *w, const double *x, double *b);
int sdv_mb_sign_diffusion(const sdv_model *m, sdv_work *w, const double *x, sdv_diffusion *D);

#endif
