"""The `omero` command for the renderer oracle: omero-py's real CLI with only the `config` and
`load` controls registered (the others need a server). OMERODIR must point at the host's
OMERO.web directory (config.xml is $OMERODIR/etc/grid/config.xml). See ice_stub.py for what is
stubbed."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ice_stub  # noqa: E402,F401

from omero.cli import CLI, NonZeroReturnCode  # noqa: E402
from omero.plugins.basics import LoadControl  # noqa: E402
from omero.plugins.prefs import PrefsControl  # noqa: E402

cli = CLI()
cli.register("config", PrefsControl, "config")
cli.register("load", LoadControl, "load")
try:
    cli.invoke(sys.argv[1:], strict=True)
except NonZeroReturnCode as e:
    sys.exit(e.rv or 1)
sys.exit(cli.rv)
