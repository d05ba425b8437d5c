"""Writes all-MiniLM-L6-v2 as ONNX graphs the server runs with ONNX Runtime, from the model's
own safetensors weights: no PyTorch, no export, only the `onnx` graph builder.

    python build-onnx-model.py MODEL_DIR

writes MODEL_DIR/model.onnx (fp32, the default) and MODEL_DIR/model-int8.onnx (the opt-in fast
path: the linear layers' weights quantised to int8 per output channel, activations quantised
dynamically per batch). Both take `input_ids` and `attention_mask` (int64, batch x sequence) and
return `sentence_embedding` (float32, batch x 384): the sentence-transformers recipe of BERT with
all-zero token types, mean pooling over the attention mask and L2 normalisation, in one graph.
The graph follows Hugging Face's BertModel operation for operation, so ONNX Runtime's own graph
optimisations (layer-norm, GELU and attention fusions) recognise it.
"""
import json
import logging
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

OPSET = 20  # first opset with a native Gelu


def build(model_dir):
    config = json.load(open(os.path.join(model_dir, "config.json")))
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    head_dim = hidden // heads
    eps = config["layer_norm_eps"]
    if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
        raise SystemExit("build-onnx-model: only BERT with exact GELU and absolute positions is supported")
    weights = load_file(os.path.join(model_dir, "model.safetensors"))
    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def linear(x, prefix, name):
        # torch.nn.Linear keeps weights as (out, in); MatMul wants (in, out).
        w = const(prefix + ".weight.T", weights[prefix + ".weight"].T.copy())
        b = const(prefix + ".bias", weights[prefix + ".bias"])
        return node("Add", [node("MatMul", [x, w], name + "/matmul"), b], name)

    def layer_norm(x, prefix, name):
        g = const(prefix + ".weight", weights[prefix + ".weight"])
        b = const(prefix + ".bias", weights[prefix + ".bias"])
        return node("LayerNormalization", [x, g, b], name, axis=-1, epsilon=eps)

    # Embeddings: word + token type 0 + position, then layer norm.
    word = node("Gather", [const("word_embeddings", weights["embeddings.word_embeddings.weight"]), "input_ids"], "word")
    typed = node("Add", [word, const("token_type_0", weights["embeddings.token_type_embeddings.weight"][0])], "typed")
    seq = node("Gather", [node("Shape", ["input_ids"], "shape"), const("one", np.array(1, dtype=np.int64))], "seq_len")
    positions = node("Range", [const("zero", np.array(0, dtype=np.int64)), seq, "one"], "positions")
    pos = node("Gather", [const("position_embeddings", weights["embeddings.position_embeddings.weight"]), positions], "pos")
    x = layer_norm(node("Add", [typed, pos], "embedded"), "embeddings.LayerNorm", "embeddings")

    # Padding: an additive bias of (1 - mask) * float32 min on the attention scores, as BERT does.
    mask = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inverted = node("Sub", [const("one_f", np.array(1.0, dtype=np.float32)), mask], "mask_inverted")
    bias = node("Mul", [inverted, const("min_f", np.array(np.finfo(np.float32).min, dtype=np.float32))], "mask_bias_2d")
    bias = node("Unsqueeze", [bias, const("axes_1_2", np.array([1, 2], dtype=np.int64))], "mask_bias")

    split_heads = const("split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_heads = const("merge_heads", np.array([0, 0, hidden], dtype=np.int64))
    scale = const("scale", np.array(1.0 / np.sqrt(head_dim), dtype=np.float32))
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        n = f"layer{i}"

        def heads_of(which, perm):
            y = linear(x, f"{p}.attention.self.{which}", f"{n}/{which}")
            return node("Transpose", [node("Reshape", [y, split_heads], f"{n}/{which}/split")], f"{n}/{which}/heads", perm=perm)

        q = heads_of("query", [0, 2, 1, 3])
        k = heads_of("key", [0, 2, 3, 1])
        v = heads_of("value", [0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [q, k], f"{n}/qk"), scale], f"{n}/scaled")
        probs = node("Softmax", [node("Add", [scores, bias], f"{n}/masked")], f"{n}/probs", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v], f"{n}/ctx_heads")], f"{n}/ctx_t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge_heads], f"{n}/ctx")
        attn = linear(ctx, f"{p}.attention.output.dense", f"{n}/attn_out")
        x = layer_norm(node("Add", [attn, x], f"{n}/attn_res"), f"{p}.attention.output.LayerNorm", f"{n}/attn_norm")
        inter = node("Gelu", [linear(x, f"{p}.intermediate.dense", f"{n}/inter")], f"{n}/gelu")
        out = linear(inter, f"{p}.output.dense", f"{n}/out")
        x = layer_norm(node("Add", [out, x], f"{n}/out_res"), f"{p}.output.LayerNorm", f"{n}/out_norm")

    # Mean pooling over the mask, then x / max(|x|, 1e-12) as torch.nn.functional.normalize.
    m = node("Unsqueeze", [mask, const("axis_2", np.array([2], dtype=np.int64))], "mask_3d")
    axis_1 = const("axis_1", np.array([1], dtype=np.int64))
    summed = node("ReduceSum", [node("Mul", [x, m], "masked_tokens"), axis_1], "summed", keepdims=0)
    count = node("Max", [node("ReduceSum", [m, axis_1], "count_raw", keepdims=0), const("count_min", np.array(1e-9, dtype=np.float32))], "count")
    mean = node("Div", [summed, count], "mean")
    norm = node("ReduceL2", [mean, const("axis_last", np.array([-1], dtype=np.int64))], "norm_raw", keepdims=1)
    norm = node("Max", [norm, const("norm_min", np.array(1e-12, dtype=np.float32))], "norm")
    node("Div", [mean, norm], "sentence_embedding")

    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="teamcontext")
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model


def main():
    model_dir = sys.argv[1]
    fp32 = os.path.join(model_dir, "model.onnx")
    int8 = os.path.join(model_dir, "model-int8.onnx")
    onnx.save(build(model_dir), fp32 + ".part")
    os.replace(fp32 + ".part", fp32)

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs advice about static (calibrated) quantisation, which does not apply.
    logging.getLogger().setLevel(logging.ERROR)

    # Only the linear layers: quantising the embedding tables' lookups costs quality for no speed.
    quantize_dynamic(
        fp32,
        int8 + ".part",
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
    )
    os.replace(int8 + ".part", int8)


if __name__ == "__main__":
    main()
