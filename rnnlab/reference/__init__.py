"""What the notes teach by hand, kept apart from the library that trains: the NumPy Elman RNN
with hand-derived BPTT (`numpy_bptt`) and the synthetic long-range tasks (`synthetic`)."""
