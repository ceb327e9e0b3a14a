"""What captioning gives: `CaptionResult` and its one JSON form (`result`), and the one upsampling of an attention map to image size (`maps`)."""
