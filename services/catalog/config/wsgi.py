import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()

from catalog.api.average_price import AveragePriceFastPath  # noqa: E402 - needs Django set up

application = AveragePriceFastPath(django_application)
