"""``python -m mobile_client_stub``."""

import sys

from mobile_client_stub.cli import main

sys.exit(main())
