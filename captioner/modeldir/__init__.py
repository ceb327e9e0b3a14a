"""The model directory: config.json + vocab.json + model.safetensors, written and read without unpickling (`checkpoint`)."""
