"""Webhook SSRF, as an attacker who controls the DNS of an allowed name would try it: IPv6 addresses that carry
an internal IPv4 address inside them (6to4, NAT64, IPv4-compatible, Teredo) are internal too, and so are the
IPv6 prefixes Python calls global that reach inside (NAT64 local-use, site-local). Global addresses, and those
carrying a global IPv4 address (an IPv6-only network's DNS64), still pass."""
from __future__ import annotations

import socket

import pytest

from crmkit.engine.automation.webhooks import WebhookRefused, checked_address


def resolving_to(monkeypatch, address: str) -> None:
    monkeypatch.setenv("CRMKIT_WEBHOOK_HOSTS", "hooks.example.org")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: [(family, 1, 6, "", (address, 443))])


@pytest.mark.parametrize("address", [
    "2002:7f00:1::",          # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",      # 6to4 of 169.254.169.254, the cloud metadata service
    "64:ff9b::7f00:1",        # NAT64 (RFC 6052) of 127.0.0.1
    "64:ff9b::a00:5",         # NAT64 of 10.0.0.5
    "64:ff9b:1::a00:5",       # NAT64 local-use prefix (RFC 8215)
    "::127.0.0.1",            # IPv4-compatible (deprecated) 127.0.0.1
    "::a00:5",                # IPv4-compatible 10.0.0.5
    "fec0::1",                # site-local (deprecated, RFC 3879)
])
def test_an_ipv6_address_that_reaches_an_internal_address_is_refused(monkeypatch, address):
    monkeypatch.delenv("CRMKIT_WEBHOOK_PRIVATE_NETWORKS", raising=False)
    resolving_to(monkeypatch, address)
    with pytest.raises(WebhookRefused, match="an internal address"):
        checked_address("hooks.example.org", 443)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
                                     "64:ff9b::5db8:d70e", "2002:5db8:d70e::1"])
def test_an_address_on_the_internet_is_still_called(monkeypatch, address):
    monkeypatch.delenv("CRMKIT_WEBHOOK_PRIVATE_NETWORKS", raising=False)
    resolving_to(monkeypatch, address)
    assert checked_address("hooks.example.org", 443) == address


def test_an_allowed_private_network_also_allows_it_carried_inside_ipv6(monkeypatch):
    monkeypatch.setenv("CRMKIT_WEBHOOK_PRIVATE_NETWORKS", "10.0.0.0/8")
    resolving_to(monkeypatch, "64:ff9b::a00:5")
    assert checked_address("hooks.example.org", 443) == "64:ff9b::a00:5"
    resolving_to(monkeypatch, "64:ff9b::7f00:1")
    with pytest.raises(WebhookRefused, match="an internal address"):
        checked_address("hooks.example.org", 443)


def test_credentials_in_the_url_never_leave_in_the_host_header(hook_server, monkeypatch):
    from crmkit.engine.automation.webhooks import post_webhook

    server, hooks = hook_server
    monkeypatch.setenv("CRMKIT_WEBHOOK_PRIVATE_NETWORKS", "127.0.0.1/32")
    port = server.server_address[1]
    assert post_webhook(f"http://admin:hunter2@hooks.test:{port}/in", b"{}", {}) == 204
    (path, headers, _), = hooks.received
    assert headers["Host"] == f"hooks.test:{port}" and "hunter2" not in str(headers)
