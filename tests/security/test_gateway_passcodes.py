"""Passcodes that hold: generated ones carry >= 64 bits, a user's own must pass a strength check before
anything is shared, and the one-click link has its own token (never the daemon's)."""

from __future__ import annotations

import base64
import math
import os
import re
from pathlib import Path

import pytest

from pinokiocloud.errors import BadParamError
from pinokiocloud.share import (
    Gateway,
    ShareManager,
    ShareSettings,
    WeakPasscodeError,
    check_passcode_strength,
    generate_passcode,
)
from pinokiocloud.share.passcodes import PASSCODE_ALPHABET
from tests.share.conftest import run
from tests.share.origin import Origin


def test_generated_passcodes_and_link_tokens_have_at_least_64_bits() -> None:
    code = generate_passcode()
    letters = code.replace("-", "")
    assert len(letters) * math.log2(len(PASSCODE_ALPHABET)) >= 64
    check_passcode_strength(code)  # what we make passes our own rule
    gateway = Gateway("http://127.0.0.1:9")
    assert len(base64.urlsafe_b64decode(gateway.token)) * 8 >= 64
    assert gateway.token not in gateway.token_link().split("?")[0]


@pytest.mark.parametrize("weak", ["1", "1234", "letmein", "pass-1", "password1234", "aaaaaaaaaaaa",
                                  "12345678", "qwertyuiop", "strong-enough-one,1234"])
def test_weak_passcodes_are_refused_with_one_sentence(weak: str) -> None:
    with pytest.raises(WeakPasscodeError) as caught:
        check_passcode_strength(weak)
    message = str(caught.value)
    assert isinstance(caught.value, BadParamError)  # the API answers 400, the CLI exits 2
    assert len(re.split(r"[.!?]\s+[A-Z]", message)) == 1 and "\n" not in message  # one sentence
    assert "leave it out" in message  # and what to do
    if len(weak) >= 4:
        assert weak not in message  # a passcode is not echoed into logs


@pytest.mark.parametrize("fine", ["open-sesame", "maple-river-stone-42", "Tr0ub4dor&3", "correct horse battery"])
def test_reasonable_passcodes_pass(fine: str) -> None:
    check_passcode_strength(fine)


def test_sharing_with_a_weak_passcode_starts_nothing(tmp_path: Path) -> None:
    settings = ShareSettings.from_mapping({"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
                                           "PINOKIOCLOUD_PLATFORM": "local"}, home=tmp_path, cloud_platform="local")

    async def scenario() -> None:
        async with Origin() as origin:
            manager = ShareManager(settings, probe_timeout_s=3.0)
            try:
                with pytest.raises(WeakPasscodeError, match="too easy to guess"):
                    await manager.share("demo", origin.url, providers=[], passcode="1")
                assert manager.shares() == [] and manager.remembered() == []
                info = await manager.share("demo", origin.url, providers=[], passcode="maple-river-stone-42")
                assert info.passcode == "maple-river-stone-42"
                assert info.token and len(info.token) >= 16
            finally:
                await manager.close()

    run(scenario())
