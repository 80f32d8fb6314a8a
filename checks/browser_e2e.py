#!/usr/bin/env python3
"""Browser end-to-end: headless Chromium runs the real OpenSeadragon (Debian's
python-openslide-examples) with crossOriginPolicy 'Anonymous' against a .dzi served through
corsd (nginx + vips dzsave pyramid behind it, tilebed.py).

- A page on an allowed origin opens the image, tiles load, and reading the canvas back does
  not throw (it would if a single tile lacked CORS headers: the canvas would be tainted).
- The same page on a foreign origin fails to open the image.
- The allowed case again through `corsd edge`, mirroring the policy from that corsd.
- And over HTTPS: the viewer page on an https origin, the tiles from a `corsd edge` serving TLS
  (certificates from testpki.py). Chromium trusts exactly that certificate's key
  (--ignore-certificate-errors-spki-list with its SPKI hash, and a profile of its own), nothing more.
A screenshot of the allowed page is saved and its path printed. Loopback only.
Usage: browser_e2e.py CORSD_BINARY ARTIFACT_DIR
"""
import glob
import http.client
import base64
import hashlib
import http.server
import os
import shutil
import ssl
import sys
import tempfile
import threading
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testpki  # noqa: E402
from tilebed import TileBed, free_port  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

binary, artifacts = sys.argv[1], sys.argv[2]
os.makedirs(artifacts, exist_ok=True)
candidates = glob.glob("/usr/share/**/openseadragon*.js", recursive=True)
osd = next((c for c in candidates if c.endswith("openseadragon.min.js")), None) or next((c for c in candidates if c.endswith("openseadragon.js")), None)
if not osd:
    sys.exit("openseadragon.js not found: install Debian's python-openslide-examples")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>corsd e2e</title>
<style>html,body{margin:0;background:#222} #v{width:800px;height:600px}</style>
<script src="openseadragon.js"></script></head>
<body><div id="v"></div><script>
window.result = {opened: false, openFailed: false, tilesLoaded: 0, tileErrors: 0, readBack: null};
var viewer = OpenSeadragon({id: "v", tileSources: "__DZI__", crossOriginPolicy: "Anonymous",
                            showNavigationControl: false, prefixUrl: "", imageLoaderLimit: 4});
viewer.addHandler("open", function () { window.result.opened = true; });
viewer.addHandler("open-failed", function () { window.result.openFailed = true; });
viewer.addHandler("tile-loaded", function () { window.result.tilesLoaded += 1; });
viewer.addHandler("tile-load-failed", function () { window.result.tileErrors += 1; });
viewer.addHandler("update-viewport", function () {
  if (window.result.tilesLoaded > 0 && viewer.world.getItemAt(0) && viewer.world.getItemAt(0).getFullyLoaded()) {
    try {
      var canvas = viewer.drawer.canvas;
      canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
      canvas.toDataURL();
      window.result.readBack = "ok";
    } catch (e) { window.result.readBack = "error: " + e.name; }
  }
});
</script></body></html>
"""


def serve_page(dzi_url, tls=None):
    root = tempfile.mkdtemp(prefix="corsd-page-")
    shutil.copy(osd, os.path.join(root, "openseadragon.js"))
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write(PAGE.replace("__DZI__", dzi_url))
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=root, **k)  # noqa: E731
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"


def spki_hash(cert_path):
    """base64(SHA-256(SubjectPublicKeyInfo)) of the first certificate in the file."""
    cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def browser(trusted_spki, profile):
    options = Options()
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=820,640",
                f"--user-data-dir={profile}", f"--ignore-certificate-errors-spki-list={trusted_spki}"]:
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def viewer_loads(driver, origin, shot_name, what):
    """Opens the viewer page at `origin`; passes when the image opened, tiles loaded without
    errors and the canvas read back. Saves a screenshot; records a failure otherwise."""
    driver.get(origin + "/index.html")
    result = wait_for(driver, lambda r: r["openFailed"] or r["readBack"] is not None)
    shot = os.path.abspath(os.path.join(artifacts, shot_name))
    driver.save_screenshot(shot)
    print(f"{what}: {result}")
    print(f"screenshot: {shot}")
    if not (result and result["opened"] and result["tilesLoaded"] > 0 and result["tileErrors"] == 0 and result["readBack"] == "ok"):
        failures.append(f"{what}: {result}")


def wait_for(driver, condition, seconds=45):
    deadline = time.monotonic() + seconds
    result = None
    while time.monotonic() < deadline:
        result = driver.execute_script("return window.result")
        if result and condition(result):
            return result
        time.sleep(0.2)  # polling the page's state, bounded by the deadline
    return result


failures = []
bed = TileBed(binary)
dzi = f"http://127.0.0.1:{bed.port}/tiles/omero/ome_seadragon/deepzoom/get/1.dzi"
allowed_page, allowed_origin = serve_page(dzi)
foreign_page, foreign_origin = serve_page(dzi)
# The same viewer through `corsd edge` (policies mirrored from the corsd above).
edge_port = free_port()
edge_page, edge_origin = serve_page(f"http://127.0.0.1:{edge_port}/tiles/omero/ome_seadragon/deepzoom/get/1.dzi")
# HTTPS: the page on an https origin, the tiles from an edge serving TLS, one certificate for both.
pki = testpki.make(bed.dir)
tls_edge_port = free_port()
tls_page, tls_origin = serve_page(f"https://127.0.0.1:{tls_edge_port}/tiles/omero/ome_seadragon/deepzoom/get/1.dzi", tls=(pki["server"], pki["server_key"]))
driver = None
try:
    bed.deployment("omero", allowed_origins=[allowed_origin, edge_origin, tls_origin])
    driver = browser(spki_hash(pki["server"]), os.path.join(bed.dir, "chromium-profile"))

    viewer_loads(driver, allowed_origin, "browser-e2e-allowed.png", f"allowed origin {allowed_origin}")

    driver.get(foreign_origin + "/index.html")
    result = wait_for(driver, lambda r: r["openFailed"] or r["opened"], seconds=30)
    print(f"foreign origin {foreign_origin}: {result}")
    if not (result and result["openFailed"] and not result["opened"]):
        failures.append(f"foreign origin: {result}")

    status, created = bed.api("POST", "/tokens", {"name": "edge", "scope": "agent:omero"})
    token_file = os.path.join(bed.dir, "edge.token")
    with open(token_file, "w") as f:
        f.write(created["secret"])
    bed.start_edge("browser", ["omero"], token_file, port=edge_port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and bed.get("/readyz", port=edge_port)[0] != 200:
        time.sleep(0.05)
    viewer_loads(driver, edge_origin, "browser-e2e-edge.png", f"through corsd edge, origin {edge_origin}")

    bed.start_edge("browser-tls", ["omero"], token_file, port=tls_edge_port, extra=["--tls-cert", pki["server"], "--tls-key", pki["server_key"]])
    trust = ssl.create_default_context(cafile=pki["ca"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPSConnection("127.0.0.1", tls_edge_port, timeout=5, context=trust)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        time.sleep(0.05)
    viewer_loads(driver, tls_origin, "browser-e2e-https.png", f"over HTTPS: page {tls_origin}, tiles from a TLS corsd edge")
finally:
    if driver:
        driver.quit()
    bed.close()
    allowed_page.shutdown()
    foreign_page.shutdown()
    edge_page.shutdown()
    tls_page.shutdown()

print(f"browser e2e: {len(failures)} failures {failures}")
sys.exit(1 if failures else 0)
