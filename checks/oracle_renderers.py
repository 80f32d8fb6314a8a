#!/usr/bin/env python3
"""Renderers checked by the real code they configure, starting from the states real hosts are in.

What is real: omero-py's `omero config` / `omero load` (its CLI, prefs and basics plugins and
ConfigXml, writing a real config.xml), omero-web 5.33's own `settings.py`, Django 5.2 (omero-web's
pinned range) with django-cors-headers 3.7.0 (omero-web's pin) or 4.9.0, `sh`, PyYAML, and
`systemd-analyze verify`. What is stubbed: ZeroC Ice (no Linux wheel; see
omero_host/ice_stub.py), and on the Django side the views, the session engine and the apps that
need Ice (see omero_host/django_host.py).

For each deployment corsd renders (`corsd render --input`):
- omero-web-config.sh runs twice with the real `omero` against a config.xml that starts empty,
  one that already has OMERO's documented CORS entries, and one with a host's own app,
  middleware and additional settings; both runs must leave the same config. Then omero-web's
  real settings.py is imported against that config.xml and Django gets its MIDDLEWARE,
  INSTALLED_APPS and CORS_* values: django.core.checks must report no error, the policy's
  every field must be in Django's settings, and real requests must behave (an allowed origin, a
  pattern-matched origin, a foreign origin, a preflight, a non-tile path, and a view that uses
  the session).
- omero-web.omero goes through the real `omero load`, twice, from empty and documented configs;
  omero-web.env through the image's CONFIG_ mapping and `omero config set`, from empty; each is
  then checked the same way.
- settings.py is spliced into the real settings.py before its `# Load server list and freeze`
  line (3.x and 4.x hosts, empty and customised configs) and checked the same way; every
  dialect is also exec'd twice on bare namespaces shaped like old and new settings.py.
- limits.conf lines follow limits.conf(5); every systemd drop-in passes `systemd-analyze
  verify` with no warning beside a unit of its type; the compose snippet parses with PyYAML and
  the supervisord fragment with configparser (what supervisord reads it with).
- Controls, which must fail: a 4.x host without the fragment (E013), and a host whose
  middleware was set to the CORS entries alone (the session view breaks).
Usage: oracle_renderers.py CORSD_BINARY  (run with the omero3 venv's python; see .ci/run)
"""
import ast
import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

BINARY = os.path.abspath(sys.argv[1])
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST_DIR = os.path.join(ROOT, "checks", "omero_host")


def venv(major):
    out = subprocess.run([os.path.join(ROOT, "checks/venv.sh"), f"omero{major}", f"requirements-omero{major}.txt", "--no-deps"],
                         check=True, capture_output=True, text=True).stdout.strip()
    return out + "/python"


PYTHON = {3: venv(3), 4: venv(4)}
work = tempfile.mkdtemp(prefix="corsd-oracle-")
failures = []
counted = {"hosts": 0, "requests": 0}


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


VIEWER = "https://viewer.example.org"
DEFAULT_METHODS = ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"]
HEADERS_3X = ["accept", "accept-encoding", "authorization", "content-type", "dnt", "origin", "user-agent", "x-csrftoken", "x-requested-with"]
HEADERS_4X = ["accept", "authorization", "content-type", "user-agent", "x-csrftoken", "x-requested-with"]


def deployment(name, version, units=(("omero-web.service", "omero-web"),), limits=None, **cors):
    d = {"name": name, "upstream": "http://omero-web.internal:4080", "django": {"cors_headers_version": version},
         "cors": cors, "systemd_units": [{"unit": u, "user": user} for u, user in units]}
    if limits is not None:
        d["limits"] = limits
    return d


CASES = [
    # The seed: allow-all off, one whitelisted domain with a port; legacy bare-host dialect.
    deployment("seed", "2.5.3", allowed_origins=["http://viewer.example.org:8080"]),
    deployment("scheme-3-4", "3.4.0", allowed_origins=[VIEWER, "http://localhost:8000"]),
    # OMERO.web as shipped: 3.7.0, credentials, both kinds of pattern, file://.
    deployment("omero-pin", "3.7.0", allowed_origins=[VIEWER, "file://"], allow_credentials=True,
               allowed_origin_patterns=["https://*.lab.example.org", r"https://tiles[0-9]{1,3}\.example\.(?:net|com)"],
               units=(("omero-web.service", "omero-web"), ("omero-server.service", "omero-server"), ("omero-web.socket", "omero-web")),
               limits=[{"domain": "omero-web", "type": "-", "item": "nofile", "value": 16384},
                       {"domain": "omero-server", "type": "soft", "item": "nofile", "value": 8192},
                       {"domain": "omero-server", "type": "hard", "item": "nofile", "value": 65535},
                       {"domain": "@omero", "type": "-", "item": "nice", "value": -5}]),
    # Every field away from its default, credentials off (which OMERO.web forces on).
    deployment("no-credentials", "3.7.0", allowed_origins=[VIEWER], allow_credentials=False, allow_methods=["GET", "OPTIONS"],
               allow_headers=["accept", "range"], expose_headers=["ETag", "Content-Range"], preflight_max_age=600, urls_regex=".*"),
    deployment("allow-all", "3.7.0", allow_all_origins=True, preflight_max_age=0),
    deployment("modern-4", "4.9.0", allowed_origins=[VIEWER, "null"], allowed_origin_patterns=["https://*.lab.example.org"],
               allow_credentials=True, allow_private_network=True, expose_headers=["ETag"]),
]


def version_tuple(v):
    return tuple(int(x) for x in v.split("."))


def render(case, fmt, allow_error=False):
    path = os.path.join(work, case["name"] + ".json")
    with open(path, "w") as f:
        json.dump(case, f)
    r = subprocess.run([BINARY, "render", fmt, "--input", path], capture_output=True, text=True)
    if allow_error:
        return r
    if r.returncode != 0:
        raise SystemExit(f"corsd render {fmt} for {case['name']} failed: {r.stderr}")
    return r.stdout


# --- The host: config.xml through the real omero CLI -------------------------------------------

OMERO_DOCUMENTED = [  # OMERO's own instructions (domain brief §3)
    ["config", "append", "omero.web.apps", '"corsheaders"'],
    ["config", "append", "omero.web.middleware", '{"index": 0.5, "class": "corsheaders.middleware.CorsMiddleware"}'],
    ["config", "append", "omero.web.middleware", '{"index": 10, "class": "corsheaders.middleware.CorsPostCsrfMiddleware"}'],
    ["config", "set", "omero.web.cors_origin_whitelist", '["https://hostname.example.com"]'],
    ["config", "set", "omero.web.cors_origin_allow_all", "True"],
]
CUSTOMISED = [  # a host's own app, middleware and additional settings, and a misplaced CorsMiddleware
    ["config", "append", "omero.web.apps", '"corsd_oracle_app"'],
    ["config", "append", "omero.web.middleware", '{"index": 7, "class": "corsd_oracle_app.middleware.Marker"}'],
    ["config", "append", "omero.web.middleware", '{"index": 3, "class": "corsheaders.middleware.CorsMiddleware"}'],
    ["config", "set", "omero.web.django_additional_settings", '[["CORSD_ORACLE_MARKER", "kept"], ["CORS_URLS_REGEX", "^/old/"]]'],
]
STATES = {"empty": [], "documented": OMERO_DOCUMENTED, "customised": CUSTOMISED}


class Host:
    """An OMERO.web directory with its own config.xml and an `omero` command for it."""

    def __init__(self, label, major=3):
        self.label, self.major = label, major
        self.dir = tempfile.mkdtemp(prefix="omerodir-", dir=work)
        os.makedirs(os.path.join(self.dir, "etc", "grid"))
        self.env = dict(os.environ, OMERODIR=self.dir, PYTHONPATH=HOST_DIR)
        self.omero = os.path.join(self.dir, "omero")
        with open(self.omero, "w") as f:
            f.write(f"#!/bin/sh\nexec {PYTHON[major]} {HOST_DIR}/omero_cli.py \"$@\"\n")
        os.chmod(self.omero, 0o755)

    def run(self, *args):
        r = subprocess.run([self.omero, *args], env=self.env, capture_output=True, text=True)
        check(r.returncode == 0, f"{self.label}: omero {' '.join(args)} failed: {r.stderr[-300:]}")
        return r.stdout

    def config(self):
        return self.run("config", "get")

    def django(self, requests, fragment=None):
        counted["hosts"] += 1
        counted["requests"] += len(requests)
        r = subprocess.run([PYTHON[self.major], os.path.join(HOST_DIR, "django_host.py")], env=self.env,
                           input=json.dumps({"fragment": fragment, "requests": requests}), capture_output=True, text=True)
        if not check(r.returncode == 0, f"{self.label}: importing settings.py failed: {r.stderr[-600:]}"):
            return None
        return json.loads(r.stdout)


# --- What a host must look like after corsd ----------------------------------------------------

TILE = "/ome_seadragon/deepzoom/get/1.dzi"


def sample_origins(cors):
    """(origin, allowed?) pairs the policy decides."""
    out = []
    listed = [o for o in cors.get("allowed_origins", []) if o not in ("null", "file://")]
    if listed:
        out.append((listed[0], True))
    for p in cors.get("allowed_origin_patterns", []):
        out.append((p.replace("://*.", "://a.b.") if "://*." in p else "https://tiles42.example.com", True))
    out.append(("https://evil.example", bool(cors.get("allow_all_origins"))))
    out.append(("https://a.lab.example.org.evil.example", bool(cors.get("allow_all_origins"))))
    return out


def host_requests(cors):
    reqs = [{"method": "GET", "path": TILE, "headers": {"Origin": o}} for o, _ in sample_origins(cors)]
    first = sample_origins(cors)[0][0]
    reqs.append({"method": "OPTIONS", "path": TILE, "headers": {"Origin": first, "Access-Control-Request-Method": "GET"}})
    reqs.append({"method": "GET", "path": "/webclient/", "headers": {"Origin": first}})
    reqs.append({"method": "GET", "path": "/webclient/session/"})
    reqs.append({"method": "GET", "path": "/webclient/session/"})
    return reqs


def verify_host(label, case, result, state="empty", script_path=True):
    if result is None:
        return
    if not check("error" not in result, f"{label}: Django failed: {result.get('error')}"):
        return
    major = 4 if version_tuple(case["django"]["cors_headers_version"]) >= (4, 0) else 3
    check(result["checks"] == [], f"{label}: django.core.checks: {result['checks']}")
    host = result["host"]
    mw = host["MIDDLEWARE"]
    for needed in ("django.contrib.sessions.middleware.SessionMiddleware", "django.middleware.csrf.CsrfViewMiddleware",
                   "django.middleware.common.CommonMiddleware", "django.contrib.messages.middleware.MessageMiddleware"):
        check(needed in mw, f"{label}: {needed} was dropped: {mw}")
    cors_mw = "corsheaders.middleware.CorsMiddleware"
    check(mw.count(cors_mw) == 1, f"{label}: CorsMiddleware not exactly once: {mw}")
    if "django.middleware.common.CommonMiddleware" in mw and cors_mw in mw:
        check(mw.index(cors_mw) < mw.index("django.middleware.common.CommonMiddleware"), f"{label}: CorsMiddleware after CommonMiddleware: {mw}")
    post = "corsheaders.middleware.CorsPostCsrfMiddleware"
    check(mw.count(post) == (1 if major == 3 else 0), f"{label}: CorsPostCsrfMiddleware count for {major}.x: {mw}")
    check(host["INSTALLED_APPS"].count("corsheaders") == 1, f"{label}: corsheaders not exactly once")
    if state == "customised":
        check("corsd_oracle_app.middleware.Marker" in mw, f"{label}: the host's middleware was dropped")
        check("corsd_oracle_app" in host["INSTALLED_APPS"], f"{label}: the host's app was dropped")
        if script_path:
            check(host["OTHER"].get("CORSD_ORACLE_MARKER") == "kept", f"{label}: the host's additional setting was dropped")

    # Every policy field, as django-cors-headers reads it (new names first, then legacy).
    c = host["CORS"]
    cors = case["cors"]

    def setting(new, old=None):
        return c.get(new, c.get(old)) if old else c.get(new)

    expected_origins = cors.get("allowed_origins", [])
    check(list(setting("CORS_ALLOWED_ORIGINS", "CORS_ORIGIN_WHITELIST") or []) == expected_origins, f"{label}: origins {setting('CORS_ALLOWED_ORIGINS', 'CORS_ORIGIN_WHITELIST')}")
    check(setting("CORS_ALLOW_ALL_ORIGINS", "CORS_ORIGIN_ALLOW_ALL") == cors.get("allow_all_origins", False), f"{label}: allow all")
    check(c.get("CORS_ALLOW_CREDENTIALS") == cors.get("allow_credentials", False), f"{label}: credentials {c.get('CORS_ALLOW_CREDENTIALS')}")
    check(list(c.get("CORS_ALLOW_METHODS", DEFAULT_METHODS)) == cors.get("allow_methods", DEFAULT_METHODS), f"{label}: methods")
    check(list(c.get("CORS_ALLOW_HEADERS", [])) == cors.get("allow_headers", HEADERS_3X if major == 3 else HEADERS_4X), f"{label}: headers {c.get('CORS_ALLOW_HEADERS')}")
    check(list(c.get("CORS_EXPOSE_HEADERS", [])) == cors.get("expose_headers", []), f"{label}: expose headers")
    check(c.get("CORS_PREFLIGHT_MAX_AGE") == cors.get("preflight_max_age", 86400), f"{label}: max age")
    check(len(setting("CORS_ALLOWED_ORIGIN_REGEXES", "CORS_ORIGIN_REGEX_WHITELIST") or []) == len(cors.get("allowed_origin_patterns", [])), f"{label}: regexes")
    check("CORS_URLS_REGEX" in c, f"{label}: no CORS_URLS_REGEX")
    if major == 4:
        check(c.get("CORS_ALLOW_PRIVATE_NETWORK") == cors.get("allow_private_network", False), f"{label}: private network")
        check("CORS_REPLACE_HTTPS_REFERER" not in c, f"{label}: CORS_REPLACE_HTTPS_REFERER left for 4.x")

    # Real requests through the whole middleware stack.
    responses = result["responses"]
    samples = sample_origins(cors)
    credentials = cors.get("allow_credentials", False)
    for (origin, allowed), resp in zip(samples, responses):
        acao = resp["headers"].get("access-control-allow-origin")
        if allowed:
            want = "*" if cors.get("allow_all_origins") and not credentials else origin
            check(acao == want, f"{label}: {origin} should be allowed ({want}), got {acao!r}")
            check((resp["headers"].get("access-control-allow-credentials") == "true") == credentials, f"{label}: credentials header for {origin}")
        else:
            check(acao is None, f"{label}: foreign {origin} got {acao!r}")
        check("origin" in resp["headers"].get("vary", "").lower(), f"{label}: no Vary: Origin on a tile")
        if state == "customised":
            check(resp["headers"].get("x-corsd-oracle-marker") == "1", f"{label}: the host's middleware did not run")
    n = len(samples)
    preflight, page, s1, s2 = responses[n:n + 4]
    check(preflight["status"] == 200 and preflight["headers"].get("access-control-allow-methods") == ", ".join(cors.get("allow_methods", DEFAULT_METHODS)),
          f"{label}: preflight {preflight['status']} {preflight['headers']}")
    tiles_only = cors.get("urls_regex") is None  # corsd's default: tile routes only
    check(("access-control-allow-origin" in page["headers"]) == (not tiles_only), f"{label}: CORS on /webclient/ with urls_regex {cors.get('urls_regex')}")
    check(s1["status"] == 200 and s2["status"] == 200 and (s1["body"], s2["body"]) == ("1", "2"),
          f"{label}: the session view broke: {s1['status']} {s2['status']} {s2['body'][:80]!r}")


# --- The renders --------------------------------------------------------------------------------

def run_script(case):
    text = render(case, "omero-web-config.sh")
    script = os.path.join(work, case["name"] + ".sh")
    with open(script, "w") as f:
        f.write(text)
    check(subprocess.run(["sh", "-n", script]).returncode == 0, f"{case['name']}: sh -n failed")
    for state, commands in STATES.items():
        label = f"{case['name']}/script/{state}"
        host = Host(label)
        for cmd in commands:
            host.run(*cmd)
        snapshots = []
        for _ in range(2):
            r = subprocess.run(["sh", script], env=dict(host.env, OMERO=host.omero), capture_output=True, text=True)
            check(r.returncode == 0, f"{label}: script failed: {r.stderr[-400:]}")
            snapshots.append(host.config())
        check(snapshots[0] == snapshots[1], f"{label}: a second run changed the config:\n{snapshots[0]}\n{snapshots[1]}")
        verify_host(label, case, host.django(host_requests(case["cors"])), state)


def run_load_file(case):
    path = os.path.join(work, case["name"] + ".omero")
    with open(path, "w") as f:
        f.write(render(case, "omero-web.omero"))
    for state in ("empty", "documented"):
        label = f"{case['name']}/omero-load/{state}"
        host = Host(label)
        for cmd in STATES[state]:
            host.run(*cmd)
        snapshots = []
        for _ in range(2):
            host.run("load", path)
            snapshots.append(host.config())
        check(snapshots[0] == snapshots[1], f"{label}: a second load changed the config")
        verify_host(label, case, host.django(host_requests(case["cors"])), state, script_path=False)


def image_config_key(variable):
    """The OMERO.web image's mapping from CONFIG_ variables to keys: `__` is `_`, `_` is `.`."""
    return variable[len("CONFIG_"):].replace("__", "\0").replace("_", ".").replace("\0", "_")


def run_env_file(case):
    text = render(case, "omero-web.env")
    label = f"{case['name']}/env/empty"
    host = Host(label)
    assignments = [line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")]
    check(all(re.fullmatch(r"CONFIG_[A-Za-z0-9_]+", k) for k, _ in assignments), f"{label}: variable names {assignments}")
    snapshots = []
    for _ in range(2):
        for variable, value in assignments:
            host.run("config", "set", image_config_key(variable), value)
        snapshots.append(host.config())
    check(snapshots[0] == snapshots[1], f"{label}: setting twice changed the config")
    verify_host(label, case, host.django(host_requests(case["cors"])), script_path=False)


def run_fragment_on_real_settings(case):
    fragment = render(case, "settings.py")
    major = 4 if version_tuple(case["django"]["cors_headers_version"]) >= (4, 0) else 3
    for state in ("empty", "customised"):
        label = f"{case['name']}/settings.py/{state}"
        host = Host(label, major)
        for cmd in STATES[state]:
            host.run(*cmd)
        verify_host(label, case, host.django(host_requests(case["cors"]), fragment=fragment), state, script_path=False)


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


def run_fragment_on_bases(case):
    """Every dialect, legacy included: the fragment exec'd twice on bare namespaces."""
    text = render(case, "settings.py")
    ast.parse(text)
    for base_name, base in BASES.items():
        ns = dict(base, CORS_REPLACE_HTTPS_REFERER=True, CORS_ORIGIN_WHITELIST=["https://stale.example"])
        exec(compile(text, "settings.py", "exec"), ns)
        once = {k: v for k, v in ns.items() if k.isupper()}
        exec(compile(text, "settings.py", "exec"), ns)
        twice = {k: v for k, v in ns.items() if k.isupper()}
        label = f"{case['name']}/bare-{base_name}"
        check(once == twice, f"{label}: a second exec changed the settings")
        mw_name = "MIDDLEWARE" if "MIDDLEWARE" in base else "MIDDLEWARE_CLASSES"
        check(type(twice[mw_name]) is type(base[mw_name]), f"{label}: {mw_name} changed type")
        check(type(twice["INSTALLED_APPS"]) is type(base["INSTALLED_APPS"]), f"{label}: INSTALLED_APPS changed type")
        check(("MIDDLEWARE" in twice) == ("MIDDLEWARE" in base), f"{label}: defined a middleware setting that was absent")
        mw = list(twice[mw_name])
        check(mw.index("corsheaders.middleware.CorsMiddleware") + 1 == mw.index("django.middleware.common.CommonMiddleware"),
              f"{label}: CorsMiddleware not just before CommonMiddleware: {mw}")
        check(not any(k.startswith("_corsd") for k in ns), f"{label}: helper names leaked")
        origins = case["cors"].get("allowed_origins", [])
        if version_tuple(case["django"]["cors_headers_version"]) < (3, 0):
            origins = [re.sub(r"^[a-z]+://", "", o) for o in origins]
        check(list(twice.get("CORS_ALLOWED_ORIGINS", twice.get("CORS_ORIGIN_WHITELIST"))) == origins, f"{label}: origins")


LIMITS_LINE = re.compile(r"^(\*|@?[A-Za-z_][A-Za-z0-9._-]*\$?|@?\d*:\d*|%\S*)\s+(soft|hard|-)\s+([a-z]+)\s+(-?\d+|unlimited)$")
UNIT_BODIES = {
    "service": "[Unit]\nDescription=corsd oracle\n[Service]\nExecStart=/bin/true\nUser={user}\n",
    "socket": "[Unit]\nDescription=corsd oracle\n[Socket]\nListenStream=127.0.0.1:4080\n",
}


def systemd_verify(unit, user, dropin_text):
    """systemd-analyze verify on a unit of the drop-in's type with the drop-in beside it."""
    d = tempfile.mkdtemp(prefix="units-", dir=work)
    kind = unit.rsplit(".", 1)[1]
    with open(os.path.join(d, unit), "w") as f:
        f.write(UNIT_BODIES[kind].format(user=user))
    if kind == "socket":  # a socket needs its service
        with open(os.path.join(d, unit[: -len(".socket")] + ".service"), "w") as f:
            f.write(UNIT_BODIES["service"].format(user=user))
    os.makedirs(os.path.join(d, unit + ".d"))
    with open(os.path.join(d, unit + ".d", "corsd-limits.conf"), "w") as f:
        f.write(dropin_text)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", os.path.join(d, unit)],
                       env=dict(os.environ, SYSTEMD_UNIT_PATH=d + ":"), capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()


def run_limits(case):
    for line in render(case, "limits.conf").splitlines():
        if line.startswith("#"):
            continue
        check(LIMITS_LINE.match(line) is not None and len(line.split()) == 4, f"{case['name']}: limits line {line!r}")
    for u in case["systemd_units"]:
        text = render(case, "systemd/" + u["unit"])
        rc, out = systemd_verify(u["unit"], u["user"], text)
        check(rc == 0 and out == "", f"{case['name']}: systemd-analyze verify {u['unit']}: rc={rc} {out}")
        body = [l for l in text.splitlines() if l and not l.startswith("#")]
        check(re.fullmatch(r"LimitNOFILE=\d+:\d+|LimitNOFILE=infinity:infinity", body[1]) is not None, f"{case['name']}: {body}")
    compose = yaml.safe_load(render(case, "docker-compose.yml"))
    nofile = compose["services"]["omero-web"]["ulimits"]["nofile"]
    check(isinstance(nofile["soft"], int) and nofile["soft"] <= nofile["hard"], f"{case['name']}: compose {nofile}")
    # supervisord reads its configuration with Python's configparser (`;` comments).
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"))
    parser.read_string(render(case, "supervisord.conf"))
    check(parser.sections() == ["supervisord"] and parser.get("supervisord", "minfds").isdigit(), f"{case['name']}: supervisord {dict(parser.items('supervisord'))}")


def run_controls():
    """Checks that can fail do: without corsd's fixes, the same checks report the problems."""
    # A 4.x host without the fragment: OMERO.web's forced CORS_REPLACE_HTTPS_REFERER is E013.
    host = Host("control/4.x-without-fragment", 4)
    host.run("config", "append", "--set", "omero.web.apps", '"corsheaders"')
    result = host.django([])
    check(result is not None and any(c.startswith("corsheaders.E013") for c in result.get("checks", [])),
          f"control: a 4.x host without the fragment should fail E013: {result and result.get('checks')}")
    # The old script's bug: omero.web.middleware set to the CORS entries alone.
    host = Host("control/middleware-replaced")
    host.run("config", "set", "omero.web.middleware", '[{"index": 0.5, "class": "corsheaders.middleware.CorsMiddleware"}]')
    result = host.django([{"method": "GET", "path": "/webclient/session/"}])
    broke = result is not None and ("error" in result or result["responses"][0]["status"] != 200)
    check(broke, "control: a host without SessionMiddleware should break the session view")
    # A drop-in in the wrong section draws a warning from systemd-analyze.
    _, out = systemd_verify("omero-web.service", "omero-web", "[Socket]\nLimitNOFILE=1024:1024\n")
    check("Unknown section" in out, f"control: systemd-analyze should warn on a wrong section: {out!r}")
    # A 4.x deployment's omero config renders are refused, naming the field.
    for fmt in ("omero-web-config.sh", "omero-web.omero", "omero-web.env"):
        r = render(CASES[-1], fmt, allow_error=True)
        check(r.returncode != 0 and "django.cors_headers_version" in r.stderr, f"control: {fmt} for 4.x should be refused: {r.stderr}")


if shutil.which("systemd-analyze") is None:
    raise SystemExit("systemd-analyze is missing: scripts/bootstrap systemd")
for case in CASES:
    major_version = version_tuple(case["django"]["cors_headers_version"])
    run_fragment_on_bases(case)
    run_limits(case)
    if (3, 0) <= major_version < (4, 0):
        run_script(case)
        run_load_file(case)
        run_env_file(case)
    if major_version >= (3, 0):  # dialects a Django 5.2 host can run (3.7 reads the 3.0-3.4 names as aliases)
        run_fragment_on_real_settings(case)
run_controls()

shutil.rmtree(work, ignore_errors=True)
print(f"renderer oracle: {len(CASES)} deployments, {counted['hosts']} real OMERO.web hosts, {counted['requests']} requests: "
      f"{len(failures)} failures")
sys.exit(1 if failures else 0)
