"""The paper's model as written (Xu et al. 2015): the CNN encoder, attention and the LSTM decoder, one step function; no runtime settings (captioner/runtime/ builds what runs fast from it)."""
