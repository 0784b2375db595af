"""A URLconf that a test checks gets imported when a gunicorn worker starts."""

urlpatterns: list = []
