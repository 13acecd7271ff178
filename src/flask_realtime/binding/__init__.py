"""The machinery behind the public API: binding Socket.IO to a Flask app.

What ``SocketIO``, the context functions and ``Namespace`` stand on, one module a concern:
the app's service (:mod:`.service`: what ``init_app`` builds), how handlers run with the
Flask contexts (:mod:`.runner`, :mod:`.scope`), the operations on the server
(:mod:`.operations`), the way from threads to the loop (:mod:`.bridge`), who owns the loop
(:mod:`.host`, :mod:`.embedded`), serving (:mod:`.serving`, :mod:`.cli`, :mod:`.asgi`), and
the configuration edge (:mod:`.options`, :mod:`.parsers`, :mod:`.adapters`,
:mod:`.log_switches`). Nothing here imports the public modules above it.
"""
