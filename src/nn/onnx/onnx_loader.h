/*
 * ONNX loader: reads a .onnx file (protobuf, opset 7..13, default domain) into
 * the facerec IR (nn/graph.h).
 *
 *     fr__graph g;
 *     fr__graph_init(&g, path, "onnx");
 *     fr_status st = fr__onnx_load(path, &g, &err);
 *     if (st) fr__graph_free(&g);             // the caller frees on error too
 *
 * Layout: ONNX is NCHW, the IR's spatial ops are NHWC. 4-D activations made by
 * spatial ops (Conv, pools, BatchNormalization on NHWC input, ...) are stored
 * NHWC with model_perm = {0,3,1,2}; layout-neutral ops (elementwise, Concat,
 * Split, Slice, Pad, ReduceMean, ...) keep NHWC with their axes remapped, and
 * weights / per-channel constants are permuted at load. Every other op gets an
 * explicit TRANSPOSE back to NCHW (value "<name>#nchw") and runs in the model's
 * layout. 4-D graph inputs stay NCHW (as the API feeds them); the first spatial
 * consumer reads "<input>#nhwc". Every ONNX node output exists in the IR under
 * its own name (NHWC ones carry model_perm so the executor returns NCHW).
 *
 * Ownership: everything created lives in g's arena; the file and the decoded
 * protobuf are freed before returning. Errors (FR_ERR_FORMAT for malformed
 * files, FR_ERR_UNSUPPORTED for ops / attributes / dtypes outside the supported
 * set, FR_ERR_TOO_LARGE for caps) name the file, the node and the problem.
 */
#ifndef FR_NN_ONNX_LOADER_H
#define FR_NN_ONNX_LOADER_H

#include "nn/graph.h"

/* Largest .onnx file accepted (the whole file is read into memory). */
#define FR__ONNX_MAX_FILE ((long long)1 << 30)

fr_status fr__onnx_load(const char *path, fr__graph *g, fr_error *err);

#endif
