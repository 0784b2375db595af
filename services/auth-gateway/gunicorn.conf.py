"""Read by ``gunicorn config.wsgi:application`` when started from this folder."""

import os

from ecomms_common.gunicorn import *  # noqa: F403
from ecomms_common.gunicorn import bind_address

bind = bind_address(default_port=8000)
# The gateway mostly waits on the services behind it: threads (gunicorn's gthread worker) let one
# worker proxy several calls at once and keep client connections alive.
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
