/* Load-time graph rewrites (see optimize.c); run by fr_model_load after a loader. */
#ifndef FR_NN_OPTIMIZE_H
#define FR_NN_OPTIMIZE_H

#include "nn/graph.h"

/* Rewrites g in place and finalizes it again. g must be finalized. */
fr_status fr__graph_optimize(fr__graph *g, fr_error *err);

#endif
