"""Is a user-supplied URL safe for a provider (or us) to fetch? Guards against server-side request forgery."""

import ipaddress
import socket
from urllib.parse import urlsplit

from aistudio_providers.netguard import is_deceptive_host, is_public_address

MAX_URL_LENGTH = 2048
_BLOCKED_HOSTS = {"localhost", "metadata", "metadata.google.internal", "instance-data"}
_BLOCKED_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain")


def _as_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:  # legacy IPv4 spellings that resolvers still accept: 127.1, 0x7f000001, 2130706433
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def unsafe_url_reason(url: str) -> str | None:
    """None when the URL may be fetched; otherwise why not, in words a user can act on."""
    if len(url) > MAX_URL_LENGTH:
        return f"Reference image URL must be at most {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "Reference image URL is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "Reference image URL must start with http:// or https://"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "Reference image URL must include a host name"
    if is_deceptive_host(host):  # fullwidth digits and other look-alikes: fetchers disagree on them
        return "Reference image URL must use a plain ASCII host name"
    if parts.username or parts.password:
        return "Reference image URL must not contain credentials"
    if port is not None and port not in (80, 443, 8080, 8443):
        return "Reference image URL must use a standard web port"
    ip = _as_ip(host)
    if ip is not None:
        if not is_public_address(ip):
            return "Reference image URL must point to a public internet address"
        return None
    if host in _BLOCKED_HOSTS or host.endswith(_BLOCKED_SUFFIXES) or "." not in host:
        return "Reference image URL must point to a public internet host"
    return None
