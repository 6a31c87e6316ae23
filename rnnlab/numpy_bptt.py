"""`python -m rnnlab.numpy_bptt` keeps working: the reference lives in
rnnlab/reference/numpy_bptt.py."""

from rnnlab.reference.numpy_bptt import *  # noqa: F403
from rnnlab.reference.numpy_bptt import main

if __name__ == "__main__":
    main()
