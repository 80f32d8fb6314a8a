#!/usr/bin/env python3
"""Renderers checked by the real tools.

For a range of deployments, corsd renders every format (`corsd render --input`), then:
- settings.py: exec'd twice on two base namespaces shaped like OMERO.web's settings (the
  seed's tuples with MIDDLEWARE_CLASSES; lists with MIDDLEWARE). Both runs must give the same
  values, 'corsheaders' once, CorsMiddleware once and just before CommonMiddleware, the CORS
  values the policy says; then Django is configured with the result and django.core.checks
  runs with the matching django-cors-headers major version (3.x: 3.7.0, 4.x: 4.9.0), which
  must report no corsheaders error. ast.parse must accept it.
- omero-web-config.sh: `sh -n`, then run twice against a fake `omero` that keeps a config
  and records argv; both runs must leave the same, correct configuration.
- limits.conf: every non-comment line has exactly four fields of limits.conf(5).
- systemd drop-in: [Service] and one LimitNOFILE=soft:hard line.
Usage: oracle_renderers.py CORSD_BINARY   (creates the venvs with checks/venv.sh)
"""
import ast
import json
import os
import re
import subprocess
import sys
import tempfile

BINARY = sys.argv[1]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENVS = {
    major: subprocess.run([os.path.join(ROOT, "checks/venv.sh"), f"dj{major}", f"requirements-dj{major}.txt"],
                          check=True, capture_output=True, text=True).stdout.strip() + "/python"
    for major in (3, 4)
}
work = tempfile.mkdtemp(prefix="corsd-oracle-")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def deployment(name, version, **cors):
    return {"name": name, "upstream": "http://omero-web.internal:4080", "django": {"cors_headers_version": version},
            "cors": cors, "systemd_units": ["omero-web.service"]}


CASES = [
    # The seed: allow-all off, one whitelisted domain with a port, omero nofile 65535.
    deployment("seed", "2.5.3", allowed_origins=["http://viewer.example.org:8080"]),
    deployment("scheme-3-0", "3.0.2", allowed_origins=["https://viewer.example.org", "http://localhost:8000"]),
    deployment("omero-pin", "3.7.0", allowed_origins=["https://viewer.example.org"], allow_credentials=True,
               allowed_origin_patterns=["https://*.lab.example.org"]),
    deployment("modern", "4.9.0", allowed_origins=["https://viewer.example.org", "https://tiles.example.org:8443", "null"],
               allowed_origin_patterns=["https://*.lab.example.org", r"https://[a-z]+\.example\.net"],
               allow_methods=["GET", "OPTIONS"], allow_headers=["accept", "x-requested-with", "range"],
               expose_headers=["ETag", "Content-Range"], allow_credentials=True, preflight_max_age=600,
               allow_private_network=True),
    deployment("allow-all", "4.9.0", allow_all_origins=True, preflight_max_age=0),
    deployment("empty", "3.7.0"),
]

BASES = {
    # As in the seed: OMERO.web of the Django 1.x days, tuples and MIDDLEWARE_CLASSES.
    "tuples": {
        "INSTALLED_APPS": ("django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions", "omeroweb.webgateway"),
        "MIDDLEWARE_CLASSES": ("django.middleware.common.BrokenLinkEmailsMiddleware", "django.middleware.common.CommonMiddleware",
                               "django.contrib.sessions.middleware.SessionMiddleware", "django.middleware.csrf.CsrfViewMiddleware"),
    },
    # Current OMERO.web: lists and MIDDLEWARE.
    "lists": {
        "INSTALLED_APPS": ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions", "omeroweb.webgateway"],
        "MIDDLEWARE": ["django.middleware.security.SecurityMiddleware", "django.contrib.sessions.middleware.SessionMiddleware",
                       "django.middleware.common.CommonMiddleware", "django.middleware.csrf.CsrfViewMiddleware"],
    },
}


def render(case, fmt):
    path = os.path.join(work, case["name"] + ".json")
    with open(path, "w") as f:
        json.dump(case, f)
    return subprocess.run([BINARY, "render", fmt, "--input", path], check=True, capture_output=True, text=True).stdout


def version_tuple(v):
    return tuple(int(x) for x in v.split("."))


def expected_settings(case):
    v = version_tuple(case["django"]["cors_headers_version"])
    cors = case["cors"]
    origins = cors.get("allowed_origins", [])
    if v < (3, 0):
        origins = ["null" if o == "null" else re.sub(r"^[a-z]+://", "", o) for o in origins]
    modern = v >= (3, 5)
    out = {
        ("CORS_ALLOW_ALL_ORIGINS" if modern else "CORS_ORIGIN_ALLOW_ALL"): cors.get("allow_all_origins", False),
        ("CORS_ALLOWED_ORIGINS" if modern else "CORS_ORIGIN_WHITELIST"): tuple(origins),
        "CORS_ALLOW_METHODS": tuple(cors.get("allow_methods", ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"])),
        "CORS_EXPOSE_HEADERS": tuple(cors.get("expose_headers", [])),
        "CORS_ALLOW_CREDENTIALS": cors.get("allow_credentials", False),
        "CORS_PREFLIGHT_MAX_AGE": cors.get("preflight_max_age", 86400),
    }
    if v >= (4, 0):
        out["CORS_ALLOW_PRIVATE_NETWORK"] = cors.get("allow_private_network", False)
    return out


def run_settings(case):
    text = render(case, "settings.py")
    ast.parse(text)
    version = case["django"]["cors_headers_version"]
    for base_name, base in BASES.items():
        ns = dict(base)
        exec(compile(text, "settings.py", "exec"), ns)
        once = {k: v for k, v in ns.items() if k.isupper()}
        exec(compile(text, "settings.py", "exec"), ns)
        twice = {k: v for k, v in ns.items() if k.isupper()}
        label = f"{case['name']}/{base_name}"
        check(once == twice, f"{label}: a second exec changed the settings")
        apps = twice["INSTALLED_APPS"]
        check(type(apps) is type(base["INSTALLED_APPS"]), f"{label}: INSTALLED_APPS changed type")
        check(list(apps).count("corsheaders") == 1, f"{label}: corsheaders not exactly once")
        mw_name = "MIDDLEWARE" if "MIDDLEWARE" in base else "MIDDLEWARE_CLASSES"
        check(("MIDDLEWARE" in twice) == ("MIDDLEWARE" in base), f"{label}: defined a middleware setting that was absent")
        mw = list(twice[mw_name])
        check(type(twice[mw_name]) is type(base[mw_name]), f"{label}: {mw_name} changed type")
        cors_mw = "corsheaders.middleware.CorsMiddleware"
        check(mw.count(cors_mw) == 1, f"{label}: CorsMiddleware not exactly once")
        check(mw.index(cors_mw) + 1 == mw.index("django.middleware.common.CommonMiddleware"),
              f"{label}: CorsMiddleware not just before CommonMiddleware: {mw}")
        for key, value in expected_settings(case).items():
            check(twice.get(key) == value, f"{label}: {key} = {twice.get(key)!r}, expected {value!r}")
        check(not any(k.startswith("_corsd") for k in twice), f"{label}: helper names leaked")
        if version_tuple(version) >= (3, 0):
            django_checks(label, version, {k: v for k, v in twice.items() if k.startswith("CORS_")}, list(apps), mw)


CHECK_PROGRAM = r"""
import json, sys
import django
from django.conf import settings
cfg = json.load(sys.stdin)
settings.configure(DEBUG=False, SECRET_KEY="oracle", INSTALLED_APPS=cfg.pop("apps"), MIDDLEWARE=cfg.pop("middleware"),
                   ROOT_URLCONF=__name__, DATABASES={}, **{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
urlpatterns = []
django.setup()
from django.core import checks
import corsheaders
problems = [m for m in checks.run_checks() if m.id and m.id.startswith("corsheaders")]
print(json.dumps({"version": corsheaders.__version__ if hasattr(corsheaders, "__version__") else "?",
                  "problems": [f"{m.id}: {m.msg}" for m in problems]}))
"""


def django_checks(label, version, cors_settings, apps, middleware):
    major = 4 if version_tuple(version) >= (4, 0) else 3
    payload = dict(cors_settings, apps=[a for a in apps if not a.startswith("omeroweb")], middleware=[
        m for m in middleware if "BrokenLink" not in m])
    out = subprocess.run([VENVS[major], "-c", CHECK_PROGRAM], input=json.dumps(payload), capture_output=True, text=True)
    check(out.returncode == 0, f"{label}: django checks did not run: {out.stderr[-400:]}")
    if out.returncode == 0:
        problems = json.loads(out.stdout)["problems"]
        check(problems == [], f"{label}: django-cors-headers {major}.x checks: {problems}")


FAKE_OMERO = r"""#!/usr/bin/env python3
import json, os, sys
state, log = os.environ["FAKE_OMERO_STATE"], os.environ["FAKE_OMERO_LOG"]
config = json.load(open(state)) if os.path.exists(state) else {}
with open(log, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
cmd = sys.argv[1:]
if cmd[:2] == ["config", "get"]:
    if cmd[2] in config:
        print(config[cmd[2]])
elif cmd[:2] == ["config", "set"]:
    config[cmd[2]] = cmd[3]
    json.dump(config, open(state, "w"))
else:
    sys.exit("fake omero: unsupported " + " ".join(cmd))
"""


def run_shell(case):
    text = render(case, "omero-web-config.sh")
    script = os.path.join(work, case["name"] + ".sh")
    with open(script, "w") as f:
        f.write(text)
    check(subprocess.run(["sh", "-n", script]).returncode == 0, f"{case['name']}: sh -n failed")
    fake = os.path.join(work, "omero")
    with open(fake, "w") as f:
        f.write(FAKE_OMERO)
    os.chmod(fake, 0o755)
    state, log = os.path.join(work, case["name"] + ".state"), os.path.join(work, case["name"] + ".log")
    # An existing config: another app and a stale CORS middleware entry appended twice.
    json.dump({"omero.web.apps": '["omero_iviewer"]',
               "omero.web.middleware": json.dumps([{"index": 0.5, "class": "corsheaders.middleware.CorsMiddleware"}] * 2 +
                                                  [{"index": 0, "class": "whitenoise.middleware.WhiteNoiseMiddleware"}])},
              open(state, "w"))
    env = dict(os.environ, OMERO=fake, FAKE_OMERO_STATE=state, FAKE_OMERO_LOG=log)
    results = []
    for _ in range(2):
        r = subprocess.run(["sh", script], env=env, capture_output=True, text=True)
        check(r.returncode == 0, f"{case['name']}: script failed: {r.stderr[-400:]}")
        results.append(json.load(open(state)))
    check(results[0] == results[1], f"{case['name']}: second run changed the config")
    cfg = results[1]
    v = version_tuple(case["django"]["cors_headers_version"])
    apps = json.loads(cfg["omero.web.apps"])
    check(apps == ["omero_iviewer", "corsheaders"], f"{case['name']}: apps {apps}")
    mw = json.loads(cfg["omero.web.middleware"])
    classes = [m["class"] for m in mw]
    check(classes.count("corsheaders.middleware.CorsMiddleware") == 1, f"{case['name']}: middleware {classes}")
    check(("corsheaders.middleware.CorsPostCsrfMiddleware" in classes) == (v < (4, 0)), f"{case['name']}: CorsPostCsrf {classes}")
    check("whitenoise.middleware.WhiteNoiseMiddleware" in classes, f"{case['name']}: other middleware lost")
    expected = expected_settings(case)
    origins = list(expected.get("CORS_ALLOWED_ORIGINS", expected.get("CORS_ORIGIN_WHITELIST")))
    check(json.loads(cfg["omero.web.cors_origin_whitelist"]) == origins, f"{case['name']}: whitelist {cfg['omero.web.cors_origin_whitelist']}")
    check(cfg["omero.web.cors_origin_allow_all"] == ("true" if case["cors"].get("allow_all_origins") else "false"), f"{case['name']}: allow_all")
    calls = [json.loads(l) for l in open(log)]
    check(not any(c[:2] == ["config", "append"] for c in calls), f"{case['name']}: used append")


LIMITS_LINE = re.compile(r"^(\*|@?[A-Za-z_][A-Za-z0-9._-]*\$?|@?\d*:\d*)\s+(soft|hard|-)\s+([a-z]+)\s+(\d+|unlimited)$")


def run_limits(case):
    for line in render(case, "limits.conf").splitlines():
        if line.startswith("#"):
            continue
        check(LIMITS_LINE.match(line) is not None and len(line.split()) == 4, f"{case['name']}: limits line {line!r}")
    dropin = render(case, "systemd/omero-web.service").splitlines()
    body = [l for l in dropin if not l.startswith("#")]
    check(body == ["[Service]", "LimitNOFILE=65535:65535"], f"{case['name']}: drop-in {body}")


for case in CASES:
    run_settings(case)
    run_shell(case)
    run_limits(case)

print(f"renderer oracle: {len(CASES)} deployments x (settings.py on {len(BASES)} bases + Django checks, "
      f"omero config twice, limits/systemd): {len(failures)} failures")
sys.exit(1 if failures else 0)
