"""One OMERO.web host, as Django sees it: imports omero-web's real settings.py against the
config.xml in $OMERODIR (optionally with a corsd settings.py fragment spliced in before its
`# Load server list and freeze` line, as the fragment's install note says), then configures
Django with the MIDDLEWARE, INSTALLED_APPS and CORS_* values that settings.py produced, runs
django.core.checks and sends real requests through the whole middleware stack.

Real: omeroweb/settings.py, Django, django-cors-headers, every middleware named by the
configuration. Not real: the views (a DeepZoom descriptor, a session counter, a page), the
session engine (signed cookies instead of OMERO's file store) and the apps that need Ice
(omeroweb.*, pipeline), which are left out of INSTALLED_APPS.

Usage: python django_host.py < {"fragment": TEXT|null, "requests": [...]}; prints JSON.
"""
import importlib.util
import json
import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ice_stub  # noqa: E402,F401

job = json.load(sys.stdin)

spec = importlib.util.find_spec("omeroweb.settings")
source = open(spec.origin).read()
if job.get("fragment"):
    marker = "# Load server list and freeze"
    assert source.count(marker) == 1, "settings.py has no single '# Load server list and freeze' line"
    source = source.replace(marker, job["fragment"] + "\n" + marker)
module = types.ModuleType("omeroweb.settings")
module.__file__ = spec.origin
sys.modules["omeroweb.settings"] = module
exec(compile(source, spec.origin, "exec"), module.__dict__)

host = {
    "MIDDLEWARE": list(module.MIDDLEWARE),
    "INSTALLED_APPS": list(module.INSTALLED_APPS),
    "CORS": {k: v for k, v in vars(module).items() if k.startswith("CORS_")},
    "OTHER": {k: v for k, v in vars(module).items() if k.startswith("CORSD_ORACLE_")},
}


def importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


apps = [a for a in host["INSTALLED_APPS"] if not a.startswith("omeroweb") and a != "pipeline" and importable(a)]

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    DEBUG=False, SECRET_KEY="oracle", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__, DATABASES={},
    INSTALLED_APPS=apps, MIDDLEWARE=host["MIDDLEWARE"],
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    MESSAGE_STORAGE="django.contrib.messages.storage.cookie.CookieStorage",
    **host["CORS"],
)
from django.http import HttpResponse  # noqa: E402
from django.urls import re_path  # noqa: E402


def descriptor(request, image_id):
    return HttpResponse("<Image/>", content_type="application/xml")


def session_counter(request):
    request.session["n"] = request.session.get("n", 0) + 1
    return HttpResponse(str(request.session["n"]))


urlpatterns = [
    re_path(r"^ome_seadragon/deepzoom/get/(?P<image_id>\d+)\.dzi$", descriptor),
    re_path(r"^webclient/session/$", session_counter),
    re_path(r"^webclient/$", lambda request: HttpResponse("webclient")),
]

result = {"host": host, "apps": apps}
try:
    django.setup()
    from django.core import checks  # noqa: E402
    from django.test import Client  # noqa: E402

    result["checks"] = [f"{m.id}: {m.msg}" for m in checks.run_checks() if m.level >= checks.ERROR]
    client = Client()
    responses = []
    for r in job["requests"]:
        meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in r.get("headers", {}).items()}
        resp = client.generic(r["method"], r["path"], **meta)
        responses.append({"status": resp.status_code, "headers": {k.lower(): v for k, v in resp.items()},
                          "body": resp.content.decode("utf-8", "replace")[:200]})
    result["responses"] = responses
except Exception as e:  # reported, not raised: the oracle says which host broke and how
    result["error"] = f"{type(e).__name__}: {e}"
print(json.dumps(result, default=repr))
