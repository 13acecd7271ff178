"""Sans-I/O tests of the Engine.IO layer (src/flask_realtime/engine/)."""
