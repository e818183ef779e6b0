"""Outgoing webhooks: a JSON POST signed per Standard Webhooks, only to allowed hosts, never to an
internal address.

    post_webhook(url, body, headers)   # -> the response's status; WebhookRefused, or OSError/HTTPError (retried)

SSRF (OWASP SSRF Prevention Cheat Sheet): the URL's host must be listed in
CRMKIT_WEBHOOK_HOSTS (comma-separated names; `*.example.com` for its subdomains). Its name is
then resolved, and if ANY address it resolves to is private, loopback, link-local, multicast,
reserved or otherwise not global, or is an IPv6 address that carries such an IPv4 address inside it
(6to4, Teredo, NAT64, IPv4-compatible), the call is refused, unless that address lies in a network
listed in CRMKIT_WEBHOOK_PRIVATE_NETWORKS (e.g. `10.1.0.0/16`, `127.0.0.1/32`). The connection
is then made to the address that was checked (the Host header and TLS name stay the URL's),
so a name that resolves differently a moment later (DNS rebinding) cannot redirect it.
Redirects are not followed.
"""
from __future__ import annotations

import ipaddress
import os
import socket
from typing import Mapping
from urllib.parse import SplitResult, urlsplit

import certifi
import urllib3

from crmkit.engine import messages
from crmkit.engine.automation.actions import ActionRefused

HOSTS_VARIABLE = "CRMKIT_WEBHOOK_HOSTS"
PRIVATE_NETWORKS_VARIABLE = "CRMKIT_WEBHOOK_PRIVATE_NETWORKS"
#: Seconds to connect, and to wait for the response.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
#: Bytes of the response read (and kept in the error when it fails).
MAX_RESPONSE_BYTES = 2000


class WebhookRefused(ActionRefused):
    """A webhook crmkit will not call (a host not allowed, an internal address): never retried."""

    title = "Webhook refused"


class WebhookFailed(RuntimeError):
    """The target answered with an error status (retried with the outbox's backoff)."""


def _list(variable: str) -> list[str]:
    return [item.strip() for item in (os.environ.get(variable) or "").split(",") if item.strip()]


def host_allowed(host: str) -> bool:
    """Whether CRMKIT_WEBHOOK_HOSTS allows `host` (exactly, or through a `*.domain` entry)."""
    host = host.lower().rstrip(".")
    for entry in _list(HOSTS_VARIABLE):
        entry = entry.lower().rstrip(".")
        if host == entry or (entry.startswith("*.") and host.endswith(entry[1:])):
            return True
    return False


def _private_allowed() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in _list(PRIVATE_NETWORKS_VARIABLE)]


#: IPv6 networks that reach an IPv4 address (or a network of their own) rather than an IPv6 host: the
#: NAT64 local-use prefix (RFC 8215) and the deprecated site-local addresses (RFC 3879). Python's
#: `is_global` calls them global, yet a NAT64 gateway or an old router takes them inside.
_NOT_GLOBAL_V6 = (ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("fec0::/10"))
#: IPv6 prefixes whose last 32 bits are an IPv4 address the packet is delivered to: the NAT64 well-known
#: prefix (RFC 6052) and the deprecated IPv4-compatible addresses (RFC 4291 section 2.5.5.1).
_EMBEDS_V4 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))


def internal_addresses(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[
        ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The internal addresses a connection to `address` may reach: `address` itself when it is private,
    loopback, link-local, multicast, reserved or in _NOT_GLOBAL_V6, and every IPv4 address an IPv6 address
    carries inside it that is (6to4 RFC 3056, Teredo RFC 4380, NAT64 RFC 6052, IPv4-compatible), since the
    packet is delivered there. [] for an address on the Internet."""
    reached: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            reached.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            reached.append(address.sixtofour)
        if address.teredo is not None:
            reached.extend(address.teredo)
        if any(address in network for network in _EMBEDS_V4):
            reached.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    internal = [seen for seen in reached if not seen.is_global or seen.is_multicast]
    if not address.is_global or address.is_multicast or any(address in network for network in _NOT_GLOBAL_V6):
        internal.insert(0, address)
    return internal


def checked_address(host: str, port: int) -> str:
    """The address to connect to for `host`, after the checks above. WebhookRefused, or OSError
    (socket.gaierror) when the name does not resolve now (retried)."""
    if not host_allowed(host):
        raise WebhookRefused(messages.WEBHOOK_HOST_NOT_ALLOWED(host=host, variable=HOSTS_VARIABLE))
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    allowed = _private_allowed()
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(not any(seen in network for network in allowed) for seen in internal_addresses(address)):
            raise WebhookRefused(messages.WEBHOOK_INTERNAL_ADDRESS(host=host, address=str(address),
                                                                   variable=PRIVATE_NETWORKS_VARIABLE))
        addresses.append(str(address))
    if not addresses:
        raise OSError(f"'{host}' has no address")
    return addresses[0]


def host_header(parts: SplitResult) -> str:
    """The Host header of a URL (RFC 9110 section 7.2): its host and port, never the `user:password@`
    userinfo, which would hand the URL's credentials to every proxy and log on the way."""
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def post_webhook(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float = READ_TIMEOUT) -> int:
    """POST `body` to `url` with `headers`, connecting to the checked address; returns the 2xx status.

    WebhookRefused (not retried) for a refused target or a 410 Gone answer; WebhookFailed
    for another error status; OSError / urllib3 errors for network trouble (both retried).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused(messages.WEBHOOK_NOT_HTTP(url=url))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = checked_address(parts.hostname, port)
    timeouts = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=timeout)
    if parts.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            address, port, timeout=timeouts, retries=False, server_hostname=parts.hostname,
            assert_hostname=parts.hostname, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeouts, retries=False)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    with pool:
        response = pool.urlopen("POST", path, body=body, headers={**headers, "Host": host_header(parts)},
                                redirect=False, retries=False, preload_content=False)
        try:
            answer = response.read(MAX_RESPONSE_BYTES, decode_content=False).decode(errors="replace")
        finally:
            response.release_conn()
    if 200 <= response.status < 300:
        return response.status
    answer = answer.strip()[:200]  # a blank answer has nothing to tell: the sentence then ends without it
    if response.status == 410:
        raise WebhookRefused(messages.WEBHOOK_GONE(answer=answer) if answer else messages.WEBHOOK_GONE_NO_ANSWER())
    status = str(response.status)
    raise WebhookFailed(messages.WEBHOOK_ERROR_STATUS(status=status, answer=answer) if answer
                        else messages.WEBHOOK_ERROR_STATUS_NO_ANSWER(status=status))
