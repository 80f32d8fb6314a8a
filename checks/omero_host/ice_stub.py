"""Import hook standing in for ZeroC Ice 3.6, which has no Linux wheel.

What is stubbed: the Ice runtime modules (Ice, IcePy, Glacier2, IceGrid, ...) and the three
omero modules that only wrap classes generated from Ice's Slice files
(omero.ObjectFactoryRegistrar, omero.rtypes, omero.clients/omero.all). Any attribute of a
stubbed module is an inert class; Ice.stringVersion() says 3.6.5 so omero's version check
passes. Nothing that talks to an OMERO server is used by the oracle.

What stays real: omero-py's CLI (omero.cli), its `config` and `load` controls
(omero/plugins/prefs.py, omero/plugins/basics.py), omero.config.ConfigXml (config.xml with
its lock), omero-web's omeroweb/settings.py and omeroweb/utils.py.
"""
import importlib.abc
import importlib.machinery
import sys
import types

STUBBED_PACKAGES = ("Ice", "IcePy", "IceImport", "Glacier2", "IceGrid", "IceStorm", "IceBox", "IcePatch2")
OMERO_GENERATED = ("omero.ObjectFactoryRegistrar", "omero.rtypes", "omero.clients", "omero.all")


class _Inert(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert(name, (object,), {})

    def __call__(cls, *args, **kwargs):
        return cls

    def __iter__(cls):
        return iter(())


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = _Inert(name, (object,), {})
        setattr(self, name, value)
        return value


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in STUBBED_PACKAGES or fullname in OMERO_GENERATED:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        if module.__name__ == "Ice":
            module.stringVersion = lambda: "3.6.5"
            module.intVersion = lambda: 30605


sys.meta_path.insert(0, _Finder())
