"""From a decoding step to captions: greedy and batched beam search, and the options that steer them (`search`)."""
