"""Images in: reading paths, bytes and PIL images into upright RGB (`loading`), and turning them into the encoder's input (`preprocess`)."""
