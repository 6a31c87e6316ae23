"""ONNX export by model interface (`onnx`, with the shapes of each interface in `specs`) and
sampling from an exported step function (`generate`)."""
