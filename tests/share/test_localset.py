"""Share-on-local.set (spec §5.1): when a local.set shares, and what lands in local.$share."""

from __future__ import annotations

from pinokiocloud.share.localset import LocalSetShare, local_share_value, share_request_for_local_set

URL = "http://127.0.0.1:7860"


def test_cloudflare_switch_shares_the_url_key_with_cloudflare_first() -> None:
    request = share_request_for_local_set({"PINOKIO_SHARE_CLOUDFLARE": "true"}, {"url": URL},
                                          providers=("platform", "cloudflare", "ssh"))
    assert request == LocalSetShare(key="url", target_url=URL, is_public=True, is_local=False,
                                    providers=("cloudflare", "platform", "ssh"), passcode=None, local_port=None)


def test_nothing_is_shared_without_a_switch_or_the_key_or_a_url() -> None:
    assert share_request_for_local_set({}, {"url": URL}) is None
    assert share_request_for_local_set({"PINOKIO_SHARE_CLOUDFLARE": "false"}, {"url": URL}) is None
    assert share_request_for_local_set({"PINOKIO_SHARE_CLOUDFLARE": "1"}, {"other": URL}) is None
    assert share_request_for_local_set({"PINOKIO_SHARE_CLOUDFLARE": "1"}, {"url": "ready"}) is None
    assert share_request_for_local_set({"PINOKIO_SHARE_CLOUDFLARE": "1"}, {"url": 7860}) is None


def test_share_var_passcode_and_local_port() -> None:
    env = {"PINOKIO_SHARE_VAR": "webui", "PINOKIO_SHARE_LOCAL": "1", "PINOKIO_SHARE_PASSCODE": "a,b",
           "PINOKIO_SHARE_LOCAL_PORT": "42010"}
    request = share_request_for_local_set(env, {"webui": URL, "url": "http://127.0.0.1:1"})
    assert request is not None
    assert (request.key, request.target_url, request.is_public, request.is_local) == ("webui", URL, False, True)
    assert (request.passcode, request.local_port, request.providers) == ("a,b", 42010, ())


def test_local_share_value_files_public_urls_under_cloudflare_as_pinokio_does() -> None:
    request = share_request_for_local_set({"PINOKIO_SHARE_CLOUDFLARE": "1", "PINOKIO_SHARE_LOCAL": "1"}, {"url": URL})
    assert request is not None
    value = local_share_value(request, public_url="https://x.trycloudflare.com", provider="cloudflare",
                              lan_url="http://192.168.1.5:42003")
    assert value == {"cloudflare": {URL: "https://x.trycloudflare.com"}, "local": {URL: "http://192.168.1.5:42003"}}
    again = local_share_value(request, public_url="http://a.lt.test", provider="localtunnel", previous=value)
    assert again["cloudflare"] == {URL: "http://a.lt.test"} and again["localtunnel"] == {URL: "http://a.lt.test"}
    assert value["cloudflare"] == {URL: "https://x.trycloudflare.com"}  # the previous value is not changed
