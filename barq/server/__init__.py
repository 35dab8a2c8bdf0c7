"""The HTTP/1.1 server: a reactor thread for idle and half-read connections and a
pool of worker threads that run the application on complete requests."""

from barq.server.config import ServerConfig, default_threads
from barq.server.listeners import AddressInUseError
from barq.server.server import Server, StartupError, serve

__all__ = [
    "AddressInUseError",
    "Server",
    "ServerConfig",
    "StartupError",
    "default_threads",
    "serve",
]
