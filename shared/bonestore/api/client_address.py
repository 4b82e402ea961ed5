"""The caller's address, as counted by the checkout limits (docs/deploy.md#client-address).

Behind CloudFront, API Gateway's ``sourceIp`` is an edge server's address, shared by
every viewer that edge serves. ``X-Forwarded-For`` names the viewer, but its first
entries are whatever the client sent. ``CloudFront-Viewer-Address`` (``ip:port``) is
set by CloudFront itself, replacing any the viewer sent, when the origin request
policy asks for it; the API's web ACL refuses it on requests that did not come
through this stack's distribution (``forged-viewer-address``), so a caller cannot
choose it. Without it (a direct caller, the local server) the connection's address,
which nobody can forge, is the one counted.
"""

from __future__ import annotations

VIEWER_ADDRESS_HEADER = "CloudFront-Viewer-Address"


def client_address(viewer_address: str | None, source_ip: str | None) -> str | None:
    """The viewer's IP from CloudFront's ``ip:port`` header, else the connection's."""
    if viewer_address:
        host, _, port = viewer_address.strip().rpartition(":")
        if host and port.isdigit():
            return host.strip("[]")
    return source_ip or None
