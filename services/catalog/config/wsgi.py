import os

from django.core.wsgi import get_wsgi_application

from ecomms_common.tracing import tracing_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Before Django builds its middleware chain (tracing adds its own); nothing when tracing is off.
tracing_setup()

django_application = get_wsgi_application()

# needs Django set up
from catalog.api.average_price import AVERAGE_PRICE  # noqa: E402
from catalog.api.fast_reads import FastReads  # noqa: E402
from catalog.api.product_reads import PRODUCT_READS  # noqa: E402

# The hot reads' plain successful answers, ahead of Django (catalog.api.fast_reads).
application = FastReads(django_application, [AVERAGE_PRICE, PRODUCT_READS])
