import os

from django.core.wsgi import get_wsgi_application

from ecomms_common.tracing import tracing_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Before Django builds its middleware chain (tracing adds its own); nothing when tracing is off.
tracing_setup()

application = get_wsgi_application()
