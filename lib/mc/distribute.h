/* Private link between the Monte Carlo engine (mc.c) and its distribution across processes
 * (distribute.c); see sdv/mc.h for the public side. */
#ifndef SDV_MC_DISTRIBUTE_H
#define SDV_MC_DISTRIBUTE_H

#include <stdbool.h>
#include <stddef.h>

#include <sdv/mc.h>

/* True if the calling thread has a distributor of size > 1 (sdv_mc_run then delegates to
 * sdv_mc_run_distributed). */
bool sdv_mc_distributed(void);

/* sdv_mc_run for this rank: runs its block range of the nb blocks, exchanges, merges. */
int sdv_mc_run_distributed(sdv_mc_result **out, const sdv_model *m, const sdv_process_options *po,
                           const size_t *steps, size_t ntimes, const sdv_observable *obs,
                           size_t nobs, const sdv_mc_options *o, size_t nb);

/* sdv_mc_run_blocks whose resource guard on work counts all the run's paths (mc.c), so that
 * every process refuses exactly the runs one process would. */
int sdv_mc_run_part(sdv_mc_result **out, const sdv_model *m, const sdv_process_options *po,
                    const size_t *steps, size_t ntimes, const sdv_observable *obs, size_t nobs,
                    const sdv_mc_options *o, size_t b0, size_t b1);

#endif
