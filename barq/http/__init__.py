"""Sans-I/O HTTP/1.1: bytes in, request objects out; response objects in, bytes out.

Nothing in this package touches sockets or threads.
"""

from barq.http.messages import Application, FileBody, HTTPRequest, HTTPResponse

__all__ = ["Application", "FileBody", "HTTPRequest", "HTTPResponse"]
