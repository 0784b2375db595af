import importlib
import sys
from types import SimpleNamespace

from ecomms_common import gunicorn


def test_bind_address_defaults_to_the_service_port(monkeypatch):
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.delenv("HOST", raising=False)
    assert gunicorn.bind_address(default_port=8001) == "0.0.0.0:8001"


def test_bind_address_follows_the_environment(monkeypatch):
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("HOST", "127.0.0.1")
    assert gunicorn.bind_address(default_port=8001) == "127.0.0.1:9001"


def test_multiprocess_metrics_directory_starts_empty(monkeypatch, tmp_path):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"stale")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    gunicorn.on_starting(server=None)
    assert directory.is_dir()
    assert list(directory.iterdir()) == []


def test_a_dead_worker_s_live_gauges_are_dropped(monkeypatch, tmp_path):
    (tmp_path / "gauge_livesum_4242.db").write_bytes(b"")
    (tmp_path / "gauge_livesum_4343.db").write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    gunicorn.child_exit(server=None, worker=SimpleNamespace(pid=4242))
    assert [path.name for path in tmp_path.iterdir()] == ["gauge_livesum_4343.db"]


def test_workers_are_threaded_so_client_connections_stay_alive(monkeypatch):
    monkeypatch.setenv("GUNICORN_THREADS", "6")
    try:
        configured = importlib.reload(gunicorn)
        # gunicorn's sync worker closes the connection after every response
        assert configured.worker_class == "gthread"
        assert configured.threads == 6
        assert configured.keepalive > 0
    finally:
        monkeypatch.delenv("GUNICORN_THREADS")
        importlib.reload(gunicorn)


def test_a_new_worker_loads_the_urlconf_before_its_first_request(settings):
    from django.urls import clear_url_caches

    settings.ROOT_URLCONF = "tests.urls_loaded_at_start"
    clear_url_caches()
    sys.modules.pop("tests.urls_loaded_at_start", None)
    try:
        gunicorn.post_worker_init(worker=None)
        assert "tests.urls_loaded_at_start" in sys.modules
    finally:
        clear_url_caches()


def test_a_worker_serving_another_wsgi_app_imports_no_urlconf(settings, monkeypatch):
    from django.apps import apps
    from django.urls import clear_url_caches

    settings.ROOT_URLCONF = "tests.urls_loaded_at_start"
    sys.modules.pop("tests.urls_loaded_at_start", None)
    monkeypatch.setattr(apps, "ready", False)
    try:
        gunicorn.post_worker_init(worker=None)
        assert "tests.urls_loaded_at_start" not in sys.modules
    finally:
        clear_url_caches()
