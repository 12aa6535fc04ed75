"""The app catalog: the bundled file, the user file merged over it, validation, lookup, filters and fit."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from pinokiocloud.apps.catalog import (
    BUNDLED_CATALOG,
    CATEGORIES,
    Capacity,
    Catalog,
    CatalogEntry,
    fit,
    load_catalog,
    parse_entry,
    read_catalog_file,
)
from pinokiocloud.errors import BadParamError, CatalogError, UserError
from pinokiocloud.platform.gpu import GpuInfo
from pinokiocloud.platform.system import DiskInfo

if TYPE_CHECKING:
    from pinokiocloud.client import CatalogEntry as EntryJSON
    from pinokiocloud.client import MachineReport

REPO = Path(__file__).resolve().parents[2]
SEED_URLS = {
    # app-patterns.md Part A: the eight seed apps and their launcher repositories.
    "vibevoice": "https://github.com/SUP3RMASS1VE/VibeVoice-Pinokio.git",
    "rvc-realtime": "https://github.com/Feedjer/RVC-realtime.git",
    "moore-animateanyone": "https://github.com/cocktailpeanutlabs/moore-animateanyone.git",
    "clarity-refiners-ui": "https://github.com/pinokiofactory/clarity-refiners-ui.git",
    "bria-rmbg": "https://github.com/cocktailpeanutlabs/bria-rmbg.git",
    "facefusion": "https://github.com/facefusion/facefusion-pinokio.git",
    "automatic1111": "https://github.com/cocktailpeanutlabs/automatic1111.git",
    "comfyui": "https://github.com/pinokiofactory/comfy.git",
}
T4 = GpuInfo("nvidia", "tesla t4", "535.104.05", 15, "sm_75")
A100 = GpuInfo("nvidia", "nvidia a100-sxm4-80gb", "535.104.05", 80, "sm_80")
RADEON = GpuInfo("amd", "radeon rx 7900 xtx", "6.3.6", 24, "gfx1100")


def entry(**fields: Any) -> dict[str, Any]:
    """A valid user entry, with ``fields`` changed."""
    return {"id": "my-app", "url": "https://github.com/me/my-app.git", "title": "My App", **fields}


def write_user_catalog(home: Path, apps: Any, *, version: int = 1) -> Path:
    path = home / "catalog.json"
    path.write_text(json.dumps({"version": version, "apps": apps}), encoding="utf-8")
    return path


@pytest.fixture
def bundled(tmp_path: Path) -> Catalog:
    return load_catalog(tmp_path)


# --- the bundled catalog ---------------------------------------------------------------------------------


def test_bundled_catalog_loads_without_problems(bundled: Catalog) -> None:
    assert bundled.problems == ()
    assert bundled.user_file is None
    assert len(bundled) >= 8
    assert [e.to_json() for e in read_catalog_file(BUNDLED_CATALOG)] == [e.to_json() for e in bundled]
    assert all(e.origin == "bundled" for e in bundled)


def test_every_seed_app_is_present_with_its_launcher_git_url(bundled: Catalog) -> None:
    for app_id, url in SEED_URLS.items():
        found = bundled.get(app_id)
        assert found is not None, app_id
        assert found.url == url
    for e in bundled:
        assert e.url.startswith("https://github.com/") and e.url.endswith(".git"), e.id


def test_bundled_entries_are_complete(bundled: Catalog) -> None:
    for e in bundled:
        assert e.description and e.tags and e.icon != "📦", e.id
        assert e.category in CATEGORIES
        assert e.disk_gb > 0, e.id
        assert "estimate" in e.description, f"{e.id}: needs are estimates and the description must say so"
        assert e.homepage is None or e.homepage.startswith("https://")
    assert len(set(bundled.ids)) == len(bundled)


def test_bundled_catalog_ships_as_package_data() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "apps/*.json" in pyproject["tool"]["setuptools"]["package-data"]["pinokiocloud"]


def test_entry_json_round_trips(bundled: Catalog) -> None:
    comfy = bundled.lookup("comfyui")
    again = parse_entry(json.loads(json.dumps(comfy.to_json())), origin="bundled")
    assert again == comfy


# --- lookup ----------------------------------------------------------------------------------------------


def test_lookup_ignores_case_and_suggests_close_ids(bundled: Catalog) -> None:
    assert bundled.get(" ComfyUI ") is bundled.lookup("comfyui")
    assert "comfyui" in bundled and "nope" not in bundled and 3 not in bundled
    assert bundled.get("comfy-ui") is None
    with pytest.raises(BadParamError, match=r"no app 'comfy-ui' in the catalog; did you mean 'comfyui'\?"):
        bundled.lookup("comfy-ui")
    with pytest.raises(BadParamError, match=r"no app 'zzz' in the catalog \(`pinokiocloud search` lists them\)"):
        bundled.lookup("zzz")


# --- the user file ---------------------------------------------------------------------------------------


def test_user_entry_with_a_bundled_id_replaces_it_in_place_and_new_ids_are_added(tmp_path: Path,
                                                                                  bundled: Catalog) -> None:
    path = write_user_catalog(tmp_path, [
        entry(id="comfyui", url="https://github.com/me/comfy-fork.git", title="My ComfyUI", vram_gb=24),
        entry(),
    ])
    merged = load_catalog(tmp_path)
    assert merged.problems == () and merged.user_file == path
    assert merged.ids == (*bundled.ids, "my-app")
    mine = merged.lookup("comfyui")
    assert (mine.url, mine.title, mine.vram_gb, mine.origin) == ("https://github.com/me/comfy-fork.git",
                                                                 "My ComfyUI", 24.0, "user")
    assert mine.tags == () and mine.category == "other", "a replacement is whole, not merged field by field"
    assert merged.lookup("my-app").origin == "user"


def test_user_entry_defaults(tmp_path: Path) -> None:
    write_user_catalog(tmp_path, [entry()])
    mine = load_catalog(tmp_path).lookup("my-app")
    assert mine == CatalogEntry(id="my-app", url="https://github.com/me/my-app.git", title="My App",
                                origin="user")
    assert (mine.description, mine.category, mine.tags, mine.complexity, mine.vram_gb, mine.disk_gb, mine.gpu,
            mine.icon) == ("", "other", (), "medium", 0, 0, None, "📦")


def test_user_file_without_version_is_read_as_version_1(tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_text(json.dumps({"apps": [entry()]}), encoding="utf-8")
    assert load_catalog(tmp_path).get("my-app") is not None


def test_broken_json_names_the_file_and_the_problem_and_keeps_the_bundled_catalog(tmp_path: Path,
                                                                                  bundled: Catalog) -> None:
    path = tmp_path / "catalog.json"
    path.write_text('{"version": 1, "apps": [\n  {"id": "x",}\n]}', encoding="utf-8")
    catalog = load_catalog(tmp_path)
    assert catalog.entries == bundled.entries
    (problem,) = catalog.problems
    assert isinstance(problem, UserError)
    assert str(problem) == (f"{path}: is not valid JSON: line 2, column 14: Expecting property name enclosed in "
                            "double quotes")
    assert problem.file == str(path) and problem.entry is None
    assert "docs/catalog.md" in problem.hint
    with pytest.raises(CatalogError, match="is not valid JSON: line 2, column 14"):
        read_catalog_file(path)


@pytest.mark.parametrize(("content", "reason"), [
    ('[{"id": "x"}]', 'must be a JSON object with an "apps" list'),
    ('{"apps": {"id": "x"}}', 'must be a JSON object with an "apps" list'),
    ('{"version": 2, "apps": []}', "has format version 2; this PinokioCloud reads version 1"),
    ("", "is not valid JSON: line 1, column 1: Expecting value"),
])
def test_wrong_file_shapes_are_reported(tmp_path: Path, bundled: Catalog, content: str, reason: str) -> None:
    (tmp_path / "catalog.json").write_text(content, encoding="utf-8")
    catalog = load_catalog(tmp_path)
    assert catalog.entries == bundled.entries
    assert len(catalog.problems) == 1 and reason in str(catalog.problems[0])


def test_unreadable_user_files_are_reported(tmp_path: Path, bundled: Catalog) -> None:
    (tmp_path / "catalog.json").write_bytes(b'{"apps": [{"title": "caf\xe9"}]}')
    assert "is not UTF-8 text" in str(load_catalog(tmp_path).problems[0])
    (tmp_path / "catalog.json").unlink()
    (tmp_path / "catalog.json").mkdir()
    catalog = load_catalog(tmp_path)
    assert catalog.entries == bundled.entries
    assert "cannot be read" in str(catalog.problems[0])
    (tmp_path / "catalog.json").rmdir()
    os.symlink(tmp_path / "gone.json", tmp_path / "catalog.json")
    assert "cannot be read" in str(load_catalog(tmp_path).problems[0])


def test_one_bad_user_entry_is_skipped_and_the_good_ones_kept(tmp_path: Path, bundled: Catalog) -> None:
    path = write_user_catalog(tmp_path, [entry(id="good-one"), entry(id="bad-one", vram="8"), entry(id="good-one")])
    catalog = load_catalog(tmp_path)
    assert catalog.ids == (*bundled.ids, "good-one")
    assert [str(p) for p in catalog.problems] == [
        f"{path}: entry 'bad-one': unknown key 'vram'; did you mean 'vram_gb'?",
        f"{path}: entry 'good-one': this id appears twice in the file; the first one is used",
    ]
    with pytest.raises(CatalogError, match="unknown key 'vram'"):
        read_catalog_file(path)


# --- validation of one entry -----------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "message"), [
    ("comfy", "entry #1: must be a JSON object, not the string 'comfy'"),
    ({"url": "https://github.com/a/b.git"}, "entry #1: missing 'id', 'title' (every entry needs id, url and title)"),
    (entry(id="My App"), "entry 'My App': id 'My App' must be 1-64 lower-case letters"),
    (entry(id="x\n"), None),  # surrounding space is trimmed, so this one is fine
    (entry(id="-x"), "id '-x' must be 1-64"),
    (entry(id="a" * 65), "must be 1-64"),
    (entry(id=7), "entry #1: id must be a string, not the number 7"),
    (entry(url="github.com/me/app"), "url 'github.com/me/app' is not a git URL"),
    (entry(url="https://github.com/me/my app.git"), "is not a git URL"),
    (entry(title=""), "title must not be empty"),
    (entry(title=None), "title must be a string, not null"),
    (entry(category="imgae"), "category 'imgae' is not one of image, video, audio, llm, 3d, tools, other"),
    (entry(complexity="hard"), "complexity 'hard' is not one of easy, medium, advanced"),
    (entry(tags="voice"), "tags must be a list of non-empty strings"),
    (entry(tags=["voice", ""]), "tags must be a list of non-empty strings"),
    (entry(vram_gb="8"), "vram_gb must be a number of GB, not the string '8'"),
    (entry(vram_gb=True), "vram_gb must be a number of GB, not true"),
    (entry(disk_gb=-1), "disk_gb must not be negative"),
    (entry(gpu="voodoo"), "gpu 'voodoo' must be null (any or none) or one of nvidia, amd, apple, intel"),
    (entry(icon="a-very-long-icon-name.png"), "icon must be an emoji"),
    (entry(homepage="ftp://x"), "homepage must be null or an http(s) URL"),
    (entry(colour="red"), "unknown key 'colour'; the keys are id, url, title"),
])
def test_entry_validation_says_what_is_wrong(raw: object, message: str | None) -> None:
    if message is None:
        parse_entry(raw, source="cat.json", index=1)
        return
    with pytest.raises(CatalogError) as caught:
        parse_entry(raw, source="cat.json", index=1)
    assert str(caught.value).startswith("cat.json: entry ")
    assert message in str(caught.value)


def test_entry_values_are_normalised() -> None:
    e = parse_entry(entry(category="Image", complexity="EASY", tags=["TTS", "tts", " Voice "], gpu="NVIDIA",
                          vram_gb=8, url="git@github.com:me/my-app.git", icon="🎙️"))
    assert (e.category, e.complexity, e.tags, e.gpu, e.vram_gb, e.icon) == ("image", "easy", ("tts", "voice"),
                                                                             "nvidia", 8.0, "🎙️")
    assert parse_entry(entry(url="file:///srv/git/my-app.git")).url == "file:///srv/git/my-app.git"


# --- filters and fit -------------------------------------------------------------------------------------


def test_filter_by_category_and_tag(bundled: Catalog) -> None:
    audio = {e.id for e in bundled.filter(category="audio")}
    assert {"vibevoice", "rvc-realtime"} <= audio
    assert all(bundled.lookup(i).category == "audio" for i in audio)
    assert {e.id for e in bundled.filter(tag="Voice-Conversion")} >= {"rvc-realtime"}
    assert [e.id for e in bundled.filter(category="image", tag="background-removal")] == ["bria-rmbg"]
    assert bundled.filter(tag="no-such-tag") == []
    assert bundled.filter() == list(bundled.entries)
    with pytest.raises(BadParamError, match="unknown category 'sound'; use one of image, video"):
        bundled.filter(category="sound")


def test_a_small_gpu_fits_fewer_apps_than_a_large_one(bundled: Catalog) -> None:
    small = {e.id for e in bundled.filter(fits=Capacity.of(gpu_vendor="nvidia", vram_gb=4, disk_free_gb=50))}
    large = {e.id for e in bundled.filter(fits=Capacity.of(gpu_vendor="nvidia", vram_gb=80, disk_free_gb=500))}
    assert "bria-rmbg" in small and "comfyui" not in small and "moore-animateanyone" not in small
    assert large == set(bundled.ids)
    assert small < large


def test_fit_names_what_is_missing(bundled: Catalog) -> None:
    moore = bundled.lookup("moore-animateanyone")
    assert fit(moore, Capacity(gpu=A100, disk=DiskInfo("/content/pinokio", "/content", 225.0, 180.0, True))).fits
    on_t4 = fit(moore, Capacity(gpu=T4, disk=DiskInfo("/content/pinokio", "/content", 100.0, 5.0, True)))
    assert on_t4.reasons == (
        "needs 16 GB of GPU memory; the tesla t4 has 15 GB",
        "needs 25 GB of disk, /content/pinokio has 5 GB free; free space or set PINOKIO_HOME to a bigger disk",
    )
    assert fit(moore, Capacity(gpu=RADEON)).reasons == (
        "needs an NVIDIA GPU; this machine has the radeon rx 7900 xtx (AMD)",)


def test_without_a_gpu_only_gpu_free_apps_fit(bundled: Catalog) -> None:
    cpu_only = {e.id for e in bundled.filter(fits=Capacity())}
    assert cpu_only == {e.id for e in bundled if e.vram_gb == 0 and e.gpu is None}
    assert "open-webui" in cpu_only
    assert fit(bundled.lookup("comfyui"), Capacity()).reasons == (
        "needs 8 GB of GPU memory; this machine has no GPU",)


def test_disk_is_only_checked_when_given(bundled: Catalog) -> None:
    framepack = bundled.lookup("framepack")
    assert fit(framepack, Capacity.of(gpu_vendor="nvidia", vram_gb=24)).fits
    assert not fit(framepack, Capacity.of(gpu_vendor="nvidia", vram_gb=24, disk_free_gb=20)).fits
    unknown = Capacity(gpu=A100, disk=DiskInfo("/x", None, None, None, False))
    assert fit(framepack, unknown).reasons == ("needs 50 GB of disk; the free space could not be measured",)


def test_capacity_from_plain_values() -> None:
    cap = Capacity.of(gpu_vendor="NVIDIA", vram_gb=15.6, disk_free_gb=40, where="/content/pinokio")
    assert cap.gpu == GpuInfo("nvidia", "NVIDIA GPU", None, 16)
    assert cap.disk is not None and (cap.disk.path, cap.disk.free_gb) == ("/content/pinokio", 40)
    assert Capacity.of() == Capacity(None, None)
    with pytest.raises(BadParamError, match="without a GPU vendor"):
        Capacity.of(vram_gb=8)
    with pytest.raises(BadParamError, match="unknown GPU vendor 'voodoo'"):
        Capacity.of(gpu_vendor="voodoo", vram_gb=8)


def test_the_library_says_what_a_bundle_app_needs_before_install(bundled: Catalog) -> None:
    from pinokiocloud.ui.views.library import before_install

    comfy = bundled.get("comfyui")
    assert comfy is not None and comfy.bundle == "ai"
    report = cast("MachineReport", {"tools": [{"name": "ffmpeg", "path": None}, {"name": "git", "path": "/usr/bin/git"}],
                                  "gpus": []})  # the daemon's JSON, as the dashboard gets it
    tools = [{"tool": "git", "commands": ["git"], "ours": False}, {"tool": "ffmpeg", "commands": ["ffmpeg"],
                                                                     "ours": False}]
    said = before_install(cast("EntryJSON", {**comfy.to_json(), "bundle_tools": tools}), report)
    assert "needs the 'ai' tools" in said and "ffmpeg" in said and "git," not in said
    facefusion = bundled.get("facefusion")
    assert facefusion is not None
    assert "conda environment" in before_install(cast("EntryJSON", facefusion.to_json()), report)


def test_a_bad_bundle_name_is_refused_with_the_choices(tmp_path: Path) -> None:
    user = tmp_path / "catalog.json"
    user.write_text(json.dumps({"version": 1, "apps": [{"id": "x", "url": "https://example.com/x.git",
                                                         "title": "X", "bundle": "gpu"}]}))
    catalog = load_catalog(tmp_path)
    assert any("bundle 'gpu' must be null or one of ai, dev, python, javascript" in str(p) for p in catalog.problems)
