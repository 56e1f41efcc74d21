/* sdv/sdv.h — umbrella header: numerical verification of SDE models of distributed
 * optimizers (DSGD, DCSGD, DSignSGD). Include this, or the module headers you need. */
#ifndef SDV_SDV_H
#define SDV_SDV_H

#include <sdv/errors.h>
#include <sdv/params.h>
#include <sdv/rng.h>
#include <sdv/stats.h>
#include <sdv/objective.h>
#include <sdv/noise.h>
#include <sdv/compressor.h>
#include <sdv/diffusion.h>
#include <sdv/model.h>
#include <sdv/process.h>
#include <sdv/exact.h>
#include <sdv/mc.h>
#include <sdv/weak.h>
#include <sdv/plugin.h>

#endif
