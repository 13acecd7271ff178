"""The PEP 3333 bridge: one WSGI call per request, on a worker thread."""
