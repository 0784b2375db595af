"""Read by ``gunicorn config.wsgi:application`` when started from this folder."""

from ecomms_common.gunicorn import *  # noqa: F403
from ecomms_common.gunicorn import bind_address

bind = bind_address(default_port=8001)
