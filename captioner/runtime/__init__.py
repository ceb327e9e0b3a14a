"""The fast inference path: the model's encoder and decoding step exported to ONNX Runtime (float or int8)."""
