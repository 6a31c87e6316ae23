"""What the notes teach by hand, kept apart from the library that trains: the NumPy Elman RNN
with hand-derived BPTT (`numpy_bptt`), its check against autograd and finite differences
(`gradcheck`, run by `rnnlab gradcheck`) and the synthetic long-range tasks (`synthetic`)."""
