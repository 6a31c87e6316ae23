"""`python -m rnnlab.numpy_bptt` keeps working: the reference lives in
rnnlab/reference/numpy_bptt.py. Run as a command it uses one BLAS thread, as rnnlab's own
runs do (rnnlab/threads.py: a second thread stalls on a busy machine); set
OPENBLAS_NUM_THREADS (or OMP_/MKL_) to choose otherwise."""

import os

if __name__ == "__main__":  # before NumPy loads its BLAS, which reads these once
    for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

from rnnlab.reference.numpy_bptt import *  # noqa: E402, F403
from rnnlab.reference.numpy_bptt import main  # noqa: E402

if __name__ == "__main__":
    main()
