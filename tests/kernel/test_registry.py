"""The set of script methods, pinned against the spec (pinokio-script-api.md §3), not against our code.

Written out by hand from the spec's tables: a method added, renamed or lost shows up here as a diff
against the spec, with the spec section that names it.
"""

from __future__ import annotations

from pinokiocloud.kernel.methods import METHODS
from pinokiocloud.kernel.runner import RunState
from tests.kernel.runner_helpers import Harness

SPEC_IMPLEMENTED: dict[str, frozenset[str]] = {
    "3.1 shell.run": frozenset({"shell.run"}),
    "3.3 fs": frozenset({"fs.write", "fs.append", "fs.read", "fs.cat", "fs.rm", "fs.remove", "fs.copy", "fs.make",
                         "fs.download", "fs.open", "fs.link", "fs.share"}),
    "3.4 data": frozenset({"local.set", "local.rm", "global.set", "global.rm", "set", "rm", "json.set", "json.rm",
                           "json.get", "self.set", "self.rm", "load"}),
    "3.6 scripts": frozenset({"script.start", "script.run", "script.return", "script.stop", "script.restart",
                              "script.download", "script.ready"}),
    "3.7 user interaction": frozenset({"input", "modal", "htmlmodal.open", "htmlmodal.update", "htmlmodal.close",
                                       "notify", "push", "log"}),
    "3.8 navigation, flow, web": frozenset({"jump", "goto", "process.wait", "web.open", "browser.open", "uri.open",
                                            "tab.open"}),
    "3.9 network and processes": frozenset({"net", "exec"}),
    "3.10 hugging face": frozenset({"hf.download"}),
    "3.11 environment files": frozenset({"env.set", "env.switch"}),
    "3.12 sharing": frozenset({"proxy.start", "proxy.stop"}),  # ignored as steps, as in the original
}
"""Methods of §3 a launcher can call, by the section that defines them."""

SPEC_NOT_PROVIDED: dict[str, frozenset[str]] = {
    "3.2 persistent shells (legacy)": frozenset({"shell.start", "shell.enter", "shell.write", "shell.stop"}),
    "3.7 desktop dialogs, broken legacy": frozenset({"filepicker.open", "loading.start", "loading.end", "key.set",
                                                     "key.get"}),
    "3.8 legacy": frozenset({"web.expose"}),
    "3.9 desktop and gradio client": frozenset({"gradio.predict", "clipboard.copy", "clipboard.paste"}),
    "3.10 hugging face account": frozenset({"hf.upload", "hf.login", "hf.logout"}),
    "3.12 sharing as steps (PinokioCloud shares apps itself)": frozenset({"cloudflare.tunnel", "cloudflare.stop"}),
    "3.13 desktop apps, github, terminal, import": frozenset({"app.launch", "app.search", "app.info",
                                                              "app.refresh", "app.download", "github.create",
                                                              "github.fork", "terminal.upload", "import"}),
}
"""Methods §3 names that PinokioCloud does not register: a step calling one fails naming it."""


def _union(groups: dict[str, frozenset[str]]) -> set[str]:
    return {name for names in groups.values() for name in names}


def test_the_registered_methods_are_exactly_the_spec_methods_we_implement() -> None:
    registered = set(METHODS)
    expected = _union(SPEC_IMPLEMENTED)
    assert registered - expected == set(), "registered but not in spec §3 (or not listed here)"
    assert expected - registered == set(), "in spec §3 but not registered"


def test_no_method_the_spec_names_is_both_provided_and_not() -> None:
    assert _union(SPEC_IMPLEMENTED) & _union(SPEC_NOT_PROVIDED) == set()
    assert _union(SPEC_NOT_PROVIDED) & set(METHODS) == set()


def test_a_step_calling_a_method_we_do_not_provide_fails_naming_it(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [{ method: "clipboard.copy", params: { text: "x" } }] }
    """)
    assert run.state is RunState.FAILED
    assert "RPC endpoint doesn't exist: clipboard.copy" in str(run.error)


def test_a_misspelt_method_gets_the_closest_registered_name(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [{ method: "shel.run", params: { message: "true" } }] }
    """)
    assert run.state is RunState.FAILED and "did you mean shell.run?" in str(run.error)
