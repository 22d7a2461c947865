/*
 * TF.js graph-model loader: reads a model.json (format "graph-model") and its
 * weight shards and builds the IR graph (nn/graph.h). JSON is parsed with
 * jansson; every size is capped and checked before use.
 *
 *     fr__graph g;
 *     fr__graph_init(&g, "models/human/iris.json", "tfjs");
 *     if (fr__tfjs_load("models/human/iris.json", &g, &err) != FR_OK) { fr__graph_free(&g); ... }
 *
 * Weights: weightsManifest[].paths are read relative to the folder of the
 * json (absolute paths and ".." are refused). Each group's shards, concatenated,
 * must hold exactly the bytes its weights need (dtype x shape; quantized:
 * uint8 / uint16 / float16 = 1 / 2 / 2 bytes per element). float32 / int32 /
 * bool are taken as is (int32 and bool -> I64), float16 is widened exactly
 * (subnormals, inf, nan), uint8 / uint16 are dequantized exactly as TF.js does:
 * float32(q * scale + min) evaluated in double (int32 originals: Math.round).
 * Const nodes take their value from the manifest by node name.
 *
 * Naming: output 0 of every TF.js node is the IR value with the node's name
 * (for fused nodes, the final activated value). Helper values get names
 * "<node>/<what>" made unique against every node name. Const nodes become IR
 * constants only when some op reads them as tensors (filters that are
 * re-laid out for CONV2D / FULLY_CONNECTED are stored only in their new layout).
 *
 * Inputs: Placeholder nodes in file order (declared shape, -1 = any).
 * Outputs: the order of TF.js model.execute(): the outputs of
 * userDefinedMetadata.signature, else of the top-level signature, in key order;
 * without a signature, every node that no other node consumes, in node order
 * (JavaScript object key order: integer-like names first).
 *
 * Supported ops: Const, Placeholder, Identity, Snapshot, StopGradient,
 * Conv2D, DepthwiseConv2dNative, _FusedConv2D, FusedDepthwiseConv2dNative
 * (fused BiasAdd + Relu / Relu6 / Prelu / LeakyRelu / Sigmoid / Tanh),
 * MatMul, _FusedMatMul, BiasAdd, Add, AddV2, Sub, Mul, RealDiv, Div, Maximum,
 * Minimum, Pow, SquaredDifference, Less, LessEqual, Greater, GreaterEqual,
 * Equal, Relu, Relu6, LeakyRelu, Prelu, Sigmoid, Tanh, Exp, Log, Abs, Neg,
 * Sqrt, Rsqrt, Square, Floor, Ceil, Softmax, MaxPool, AvgPool, Pad, PadV2,
 * MirrorPad (REFLECT), Reshape, Shape, StridedSlice, Pack, ConcatV2, Concat,
 * ResizeBilinear, ResizeNearestNeighbor, DepthToSpace, Mean, Sum, Max, Min,
 * Squeeze, ExpandDims, Transpose, Cast. Spatial ops require data_format NHWC.
 * Ops that depend on a tensor's rank (Pack, ExpandDims, Squeeze, StridedSlice
 * with ellipsis or new_axis) use ranks the loader infers; when a rank cannot
 * be inferred the op is refused with FR_ERR_UNSUPPORTED.
 */
#ifndef FR_NN_TFJS_LOADER_H
#define FR_NN_TFJS_LOADER_H

#include "nn/graph.h"

/* Caps for hostile files. */
#define FR__TFJS_MAX_JSON_BYTES ((size_t)64 << 20)    /* model.json */
#define FR__TFJS_MAX_SHARD_BYTES ((size_t)1 << 30)    /* one weight shard */
#define FR__TFJS_MAX_WEIGHT_BYTES ((size_t)2 << 30)   /* all shards together */

/* Reads path (a model.json) and its shards and fills g, which the caller has
 * initialized with fr__graph_init(g, path, "tfjs"); finalizes g. On error the
 * caller frees g; err names the file, the node and the problem.
 * Errors: FR_ERR_NOT_FOUND / FR_ERR_IO (files), FR_ERR_FORMAT (malformed json,
 * manifest, attrs, graph), FR_ERR_UNSUPPORTED (op, dtype or feature),
 * FR_ERR_TOO_LARGE (caps), FR_ERR_NOMEM. */
fr_status fr__tfjs_load(const char *path, fr__graph *g, fr_error *err);

#endif
