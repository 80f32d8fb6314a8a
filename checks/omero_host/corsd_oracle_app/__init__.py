"""A host's own Django app for the oracle's customised configuration: it must survive corsd."""
