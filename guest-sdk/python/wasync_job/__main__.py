"""``python -m wasync_job build FOLDER -o job.wasm``: see :mod:`wasync_job.build`."""

import sys

from .build import main

sys.exit(main())
