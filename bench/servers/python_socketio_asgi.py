"""Peer: python-socketio's AsyncServer as an ASGI app on uvicorn, with the benchmark handlers.

    python servers/python_socketio_asgi.py --host 127.0.0.1 --port 5000

uvicorn with its fastest stack (uvloop, httptools, websockets sans-I/O), one worker, no access
log.
"echo"/"echo_ack" are plain `def` handlers (python-socketio calls them on the loop; the emit is
scheduled as a task, since a coroutine cannot be awaited there), "aecho"/"aecho_ack" are
`async def`.
"""

import argparse

import socketio
import uvicorn

sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
app = socketio.ASGIApp(sio)


@sio.on("echo")
def echo(sid, data):
    sio.start_background_task(sio.emit, "echo", data, to=sid)


@sio.on("aecho")
async def aecho(sid, data):
    await sio.emit("aecho", data, to=sid)


@sio.on("echo_ack")
def echo_ack(sid, data):
    return data


@sio.on("aecho_ack")
async def aecho_ack(sid, data):
    return data


# The polling handshake cases connect here: a connect handler of each kind that accepts.
@sio.on("connect", namespace="/cdef")
def connect_def(sid, environ, auth=None):
    return None


@sio.on("connect", namespace="/casync")
async def connect_async(sid, environ, auth=None):
    return None


@sio.on("start_broadcast")
async def start_broadcast(sid, opts):
    payload = "x" * int(opts["size"])
    for _ in range(int(opts["count"])):
        await sio.emit("bcast", payload)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    print(f"python-socketio AsyncServer on uvicorn, {args.host}:{args.port}", flush=True)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",  # what ws="auto" picks when websockets is installed
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
