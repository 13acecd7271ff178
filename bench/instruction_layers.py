"""Per-layer instruction counts: make the server's Python layers visible to callgrind.

callgrind names C functions only: every Python function is ``_PyEval_EvalFrameDefault``.
``instructions.py --layers`` therefore starts the server through this module, which
compiles a tiny C extension and replaces each layer's Python function by a C object
that calls the original through a C function of that layer's own (``layer_<name>``,
by vectorcall; a class attribute binds like a function). callgrind's inclusive count of
``layer_<name>`` is then that layer's cost, what it calls included. The wrappers cost a
little themselves (a vectorcall each, and a bound method for a method), counted in the
layer that calls them: compare the totals with and without ``--layers``.

A layer is ``module:Qualified.name`` (a method that a base class defines is replaced in
that class: ``HandlerRunner._finish`` is ``RunnerLanes``'s); module-level functions are
also replaced where other modules of the package imported them by name. ``async def``
functions are not wrapped (a wrapper would count the making of the coroutine, not its
run): their work is in the layer that steps them: ``HandlerRunner._start`` on Python
3.12+ (an eager task's first step), the loop's own task step on 3.11 (no layer: the
read's row). A target that is not in the code measured is left out (comparing an older
tree).
"""

from __future__ import annotations

import importlib
import re
import runpy
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

# (label, target): in the order of a round trip. The label names the C function.
LAYERS: list[tuple[str, str]] = [
    ("ws_read", "flask_realtime.runtime.engineio.websocket:WebSocketConnection.data_received"),
    ("ws_message", "flask_realtime.runtime.engineio.websocket:WebSocketConnection._on_message"),
    ("eio_receive", "flask_realtime.engine.socket:EngineSocket.receive_message"),
    ("sio_on_message", "flask_realtime.server.socketio_server:SocketIOServer.on_message"),
    ("client_receive", "flask_realtime.server.client:Client.receive"),
    ("sio_decode", "flask_realtime.protocol.parsers:JsonDecoder.feed"),
    ("sio_decode_event", "flask_realtime.protocol.parsers:JsonDecoder.feed_event"),
    ("socket_on_event", "flask_realtime.server.socket:Socket.on_event"),
    ("find_handler", "flask_realtime.server.live_namespaces:LiveNamespace.find_handler"),
    ("call_init", "flask_realtime.server.handler_call:Call.__init__"),
    ("runner_invoke", "flask_realtime.binding.runner:HandlerRunner.invoke"),
    ("job_init", "flask_realtime.binding.runner_jobs:Job.__init__"),
    ("runner_start", "flask_realtime.binding.runner:HandlerRunner._start"),
    ("pool_submit", "flask_realtime.runtime.workers:WorkerPool.submit"),
    ("run_in_thread", "flask_realtime.binding.runner:HandlerRunner._run_in_thread"),
    ("enter_context", "flask_realtime.binding.scope:enter_context"),
    ("leave_context", "flask_realtime.binding.scope:leave_context"),
    ("push_context", "flask_realtime.binding.scope:push_context"),
    ("flask_app_context", "flask.app:Flask.app_context"),
    ("pop_context", "flask_realtime.binding.scope:pop_context"),
    ("emit_facade", "flask_realtime.context:emit"),
    ("require_scope", "flask_realtime.binding.scope:require_scope"),
    ("ops_emit_to_sender", "flask_realtime.binding.operations:Operations.emit_to_sender"),
    ("ops_emit", "flask_realtime.binding.operations:Operations.emit"),
    ("server_emit", "flask_realtime.server.socketio_server:SocketIOServer.emit"),
    ("sio_encode", "flask_realtime.protocol.parsers:JsonParser.encode"),
    ("sio_encode_event", "flask_realtime.protocol.parsers:JsonParser.encode_event"),
    ("sio_encode_ack", "flask_realtime.protocol.parsers:JsonParser.encode_ack"),
    ("ws_frame", "flask_realtime.engine.message:OutgoingMessage.ws_frame"),
    ("emit_to_socket", "flask_realtime.server.one_socket:OneSocketSends.emit_to_socket"),
    ("write_event", "flask_realtime.server.one_socket:OneSocketSends._write_event"),
    ("namespaces_get", "flask_realtime.server.live_namespaces:NamespaceTable.get"),
    ("packet_init", "flask_realtime.protocol.socketio:Packet.__init__"),
    ("message_init", "flask_realtime.engine.message:OutgoingMessage.__init__"),
    ("send_encoded", "flask_realtime.server.one_socket:OneSocketSends.send_encoded"),
    ("ack_messages", "flask_realtime.server.socket:Socket.ack_messages"),
    ("bridge_call", "flask_realtime.binding.bridge:LoopBridge.call"),
    ("bridge_drain", "flask_realtime.binding.bridge:LoopBridge._drain"),
    ("runner_finish", "flask_realtime.binding.runner:HandlerRunner._finish"),
    ("call_done", "flask_realtime.server.handler_call:Call.done"),
    ("event_done", "flask_realtime.server.socket:Socket._event_done"),
    ("eio_send", "flask_realtime.engine.socket:EngineSocket.send"),
    ("ws_send", "flask_realtime.runtime.engineio.websocket:WebSocketConnection.send"),
    ("coalescer_mark", "flask_realtime.runtime.engineio.coalesce:WriteCoalescer.mark"),
    ("ws_end_tick", "flask_realtime.runtime.engineio.websocket:WebSocketConnection.end_tick"),
]

_C = """
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

/* A layer: calls its original through a C function of its own (vectorcall), and binds
   like a function when it is a class attribute (a method). */
typedef struct { PyObject_HEAD PyObject *original; vectorcallfunc vectorcall; } Layer;

static PyObject *Layer_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None) { Py_INCREF(self); return self; }
    return PyMethod_New(self, obj);
}
static void Layer_dealloc(PyObject *self)
{
    Py_XDECREF(((Layer *)self)->original);
    Py_TYPE(self)->tp_free(self);
}
static PyTypeObject LayerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_layers.Layer",
    .tp_basicsize = sizeof(Layer),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_vectorcall_offset = offsetof(Layer, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_descr_get = Layer_get,
    .tp_dealloc = Layer_dealloc,
};
%(functions)s
static vectorcallfunc table[] = {%(table)s};

static PyObject *make(PyObject *module, PyObject *args)
{
    int index; PyObject *original;
    if (!PyArg_ParseTuple(args, "iO", &index, &original)) return NULL;
    if (index < 0 || index >= (int)(sizeof(table) / sizeof(table[0]))) {
        PyErr_SetString(PyExc_IndexError, "no such layer"); return NULL;
    }
    Layer *layer = PyObject_New(Layer, &LayerType);
    if (layer == NULL) return NULL;
    Py_INCREF(original);
    layer->original = original;
    layer->vectorcall = table[index];
    return (PyObject *)layer;
}
static PyMethodDef methods[] = {{"make", make, METH_VARARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_layers", NULL, -1, methods};
PyMODINIT_FUNC PyInit__layers(void)
{
    if (PyType_Ready(&LayerType) < 0) return NULL;
    return PyModule_Create(&module);
}
"""
_FUNCTION = """
__attribute__((noinline)) static PyObject *
layer_%(name)s(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    return PyObject_Vectorcall(((Layer *)self)->original, args, nargsf, kwnames);
}
"""


def build(outdir: Path) -> None:
    """Compile the ``_layers`` extension into ``outdir``."""
    functions = "".join(_FUNCTION % {"name": name} for name, _ in LAYERS)
    table = ", ".join(f"layer_{name}" for name, _ in LAYERS)
    source = outdir / "_layers.c"
    source.write_text(_C % {"functions": functions, "table": table})
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    include = sysconfig.get_paths()["include"]
    subprocess.run(
        ["gcc", "-O2", "-g", "-shared", "-fPIC", f"-I{include}", str(source), "-o",
         str(outdir / f"_layers{suffix}")],
        check=True,
        timeout=120,
    )  # fmt: skip


def install(outdir: Path) -> None:
    """Replace every layer's function by its wrapper."""
    sys.path.insert(0, str(outdir))
    layers = importlib.import_module("_layers")
    for index, (_, target) in enumerate(LAYERS):
        module_name, _, qualname = target.partition(":")
        module = importlib.import_module(module_name)
        owner: Any = module
        *path, attr = qualname.split(".")
        for part in path:
            owner = getattr(owner, part)
        if isinstance(owner, type):  # wrapped where it is defined: a base class, maybe
            owner = next((klass for klass in owner.__mro__ if attr in vars(klass)), owner)
        original = vars(owner).get(attr) if isinstance(owner, type) else getattr(owner, attr, None)
        if original is None:  # not in this version of the code (an older one, compared)
            continue
        wrapper = layers.make(index, original)
        setattr(owner, attr, wrapper)
        if owner is module:  # imported by name elsewhere: replace it there too
            for other in list(sys.modules.values()):
                if other is not None and getattr(other, attr, None) is original:
                    setattr(other, attr, wrapper)


def serve(outdir: str, server: str, argv: list[str]) -> None:
    """Run ``server`` as ``__main__`` with the layers installed (in the server process)."""
    install(Path(outdir))
    sys.argv = [server, *argv]
    runpy.run_path(server, run_name="__main__")


def layer_rows(annotated: list[tuple[int, str]]) -> dict[str, int]:
    """The inclusive count of each layer's C function (its outermost call)."""
    found: dict[str, int] = {}
    for count, name in annotated:
        m = re.search(r"layer_(\w+?)(?:'\d+)?$", name)
        if m:
            label = m.group(1)
            found[label] = max(found.get(label, 0), count)
    return found


if __name__ == "__main__":  # python instruction_layers.py OUTDIR SERVER [ARGS...]
    serve(sys.argv[1], sys.argv[2], sys.argv[3:])
