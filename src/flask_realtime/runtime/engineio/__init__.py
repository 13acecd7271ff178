"""The Engine.IO endpoint over our HTTP server: polling, WebSocket, the browser client."""
