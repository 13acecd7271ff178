"""The HTTP/1.1 server: listening and shutdown, connections, exchanges, requests."""
