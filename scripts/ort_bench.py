#!/usr/bin/env python3
"""onnxruntime side of scripts/bench-vs-onnxruntime.sh.

  ort_bench.py time MODEL INPUT.f32 RUNS WARMUP   -> one JSON line: median/p10/p90 ms, logits
  ort_bench.py quantize F32.onnx OUT.onnx INPUT.f32 [INPUT.f32 ...]
      -> int8 QDQ model (per-channel weights, activations calibrated on the inputs), the same
         format tract runs; petcam's metadata is kept.

Inputs are raw little-endian f32 [1, 3, S, S] as written by `petcam bench --dump-input`.
CPU only, one intra-op thread, like the kiosk.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def load_input(path, size):
    x = np.fromfile(path, dtype="<f4")
    if x.size != 3 * size * size:
        sys.exit(f"{path}: {x.size} values, the model wants 3x{size}x{size}")
    return x.reshape(1, 3, size, size)


def session(model):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def time_model(model, inp, runs, warmup):
    s = session(model)
    i = s.get_inputs()[0]
    x = load_input(inp, i.shape[2])
    for _ in range(warmup):
        s.run(None, {i.name: x})
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        out = s.run(None, {i.name: x})
        ms.append((time.perf_counter() - t) * 1000.0)
    ms.sort()
    q = lambda f: ms[round((len(ms) - 1) * f)]
    print(json.dumps({"median_ms": q(0.5), "p10_ms": q(0.1), "p90_ms": q(0.9), "runs": runs,
                      "logits": out[0].reshape(-1).tolist(), "ort": ort.__version__}))


def quantize(f32, out, inputs, pointwise_only=False):
    """An int8 copy of `f32` calibrated on `inputs`: QDQ, per-channel (ORT's defaults for CNNs), or
    with `pointwise_only` the issue-19 experiment: only the 1x1 convolutions, as standard-op
    QLinearConv with symmetric per-tensor int8 weights (zero point 0, so tract can fuse the
    requantisation), everything else f32."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    size = onnx.load(f32).graph.input[0].type.tensor_type.shape.dim[2].dim_value or 96

    name = onnx.load(f32).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{name: load_input(p, size)} for p in inputs])

        def get_next(self):
            return next(self.items, None)

    if pointwise_only:
        g = onnx.load(f32).graph
        pointwise = [n.name for n in g.node if n.op_type == "Conv"
                     and [a.ints for a in n.attribute if a.name == "kernel_shape"][0] == [1, 1]
                     and all(a.i == 1 for a in n.attribute if a.name == "group")]
        quantize_static(f32, out, Reader(), quant_format=QuantFormat.QOperator, per_channel=False,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["Conv"], nodes_to_quantize=pointwise,
                        extra_options={"WeightSymmetric": True})
    else:
        quantize_static(f32, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    m = onnx.load(out)
    # The quantiser's shape inference leaves a symbolic batch size on intermediate values, which
    # contradicts the fixed [1, 3, S, S] input tract is given: drop those hints.
    del m.graph.value_info[:]
    src = onnx.load(f32)
    del m.metadata_props[:]
    for p in src.metadata_props:
        q = m.metadata_props.add()
        q.key, q.value = p.key, p.value
        if p.key == "petcam":
            meta = json.loads(p.value)
            meta["precision"] = "int8"
            meta["name"] = meta.get("name", "model") + ("-ort-int8-pointwise" if pointwise_only else "-ort-int8-qdq")
            q.value = json.dumps(meta)
    onnx.save(m, out)
    print(out)


if __name__ == "__main__":
    if len(sys.argv) >= 6 and sys.argv[1] == "time":
        time_model(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif len(sys.argv) >= 5 and sys.argv[1] == "quantize":
        quantize(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif len(sys.argv) >= 5 and sys.argv[1] == "quantize-pointwise":
        quantize(sys.argv[2], sys.argv[3], sys.argv[4:], pointwise_only=True)
    else:
        sys.exit(__doc__)
