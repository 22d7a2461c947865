/*
 * TFLite loader: reads a .tflite FlatBuffer (schema "TFL3") and builds the IR
 * graph (nn/graph.h). No FlatBuffers library is used: the file is read with a
 * small reader that checks every offset, vtable, vector length and string
 * against the buffer size, so hostile files give an error, never a crash.
 *
 *     fr__graph g;
 *     fr__graph_init(&g, path, "tflite");
 *     if (fr__tflite_load(path, &g, &err) != FR_OK) { fr__graph_free(&g); ... }
 *
 * What is supported (subgraph 0 only):
 *  - tensor types FLOAT32, FLOAT16 (dequantized to F32 at load), INT32 and
 *    INT64 (-> I64), BOOL (-> F32 0/1); quantized and other types give
 *    FR_ERR_UNSUPPORTED naming the tensor;
 *  - buffers stored inline or through Buffer.offset/size (large models);
 *  - DEQUANTIZE of a constant is folded at load (no node);
 *  - fused activations: NONE/RELU/RELU6/RELU_N1_TO_1 become the clamp of
 *    CONV2D / FULLY_CONNECTED; elsewhere (and TANH) a separate node follows,
 *    and the TFLite tensor name is on the final (activated) value;
 *  - graph inputs: 4-D float inputs are declared with H and W = -1 (any size);
 *    a file batch > 1 is declared -1 too, and constant RESHAPE shapes that
 *    carry that batch in their leading position are rewritten to -1.
 * Tensor names are the TFLite tensor names (duplicates get a "#k" suffix).
 */
#ifndef FR_NN_TFLITE_LOADER_H
#define FR_NN_TFLITE_LOADER_H

#include <stddef.h>

#include "nn/graph.h"

/* Reads the file at path and fills g (initialized by the caller with
 * fr__graph_init(g, path, "tflite")); finalizes it. On error the caller frees g.
 * Errors: FR_ERR_NOT_FOUND / FR_ERR_IO (file), FR_ERR_FORMAT (malformed),
 * FR_ERR_UNSUPPORTED (op, type or feature), FR_ERR_TOO_LARGE (caps). */
fr_status fr__tflite_load(const char *path, fr__graph *g, fr_error *err);

/* Same from memory (the bytes are only read during the call; constants are
 * copied into g's arena). Used by tests and by fr__tflite_load. */
fr_status fr__tflite_load_buffer(const void *data, size_t size, fr__graph *g, fr_error *err);

#endif
