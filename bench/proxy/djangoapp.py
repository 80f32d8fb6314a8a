"""The seed's way, for scale: a one-file Django app with django-cors-headers serving the same
tiles from disk under gunicorn. Settings come from the environment (TILE_ROOT)."""
import os

from django.conf import settings
from django.http import FileResponse, Http404
from django.urls import re_path

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="bench-only",
    INSTALLED_APPS=["corsheaders"],
    MIDDLEWARE=["corsheaders.middleware.CorsMiddleware", "django.middleware.common.CommonMiddleware"],
    CORS_ALLOWED_ORIGINS=["https://viewer.example.org"],
)


def tile(request, path):
    full = os.path.realpath(os.path.join(os.environ["TILE_ROOT"], path))
    if not full.startswith(os.environ["TILE_ROOT"]) or not os.path.isfile(full):
        raise Http404()
    return FileResponse(open(full, "rb"), content_type="image/jpeg")


urlpatterns = [re_path(r"^(?P<path>ome_seadragon/.+)$", tile)]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
