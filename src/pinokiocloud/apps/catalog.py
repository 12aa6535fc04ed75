"""The app catalog: launchers a user can install by id, with what each needs, searchable and filterable.

The bundled ``catalog.json`` ships with the package; a user file at ``PINOKIO_HOME/catalog.json`` in the same
format is merged over it (an entry with a bundled id replaces that entry whole, a new id adds one). The format
is documented in ``docs/catalog.md``.

A broken user file never hides the bundled catalog: ``load_catalog`` keeps every usable entry and returns the
problems as ``CatalogError`` values in ``Catalog.problems`` for the caller to show (``search``, ``doctor``, the
UI). ``read_catalog_file`` is the strict reader, which raises the first problem; the bundled file is read with it,
since a broken bundled catalog is our bug, not the user's.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias, cast

from pinokiocloud.apps.search import SearchItem
from pinokiocloud.errors import BadParamError, CatalogError
from pinokiocloud.platform.gpu import GpuInfo
from pinokiocloud.platform.policy import GPU_VENDORS, Fit, Requirements, check_requirements
from pinokiocloud.platform.system import DiskInfo

__all__ = [
    "BUNDLED_CATALOG",
    "CATALOG_FORMAT_VERSION",
    "CATEGORIES",
    "COMPLEXITIES",
    "USER_CATALOG_NAME",
    "Capacity",
    "Catalog",
    "CatalogEntry",
    "Complexity",
    "fit",
    "load_catalog",
    "parse_entry",
    "read_catalog_file",
]

BUNDLED_CATALOG = Path(__file__).with_name("catalog.json")
USER_CATALOG_NAME = "catalog.json"
"""The user's own catalog, read from ``PINOKIO_HOME``."""
CATALOG_FORMAT_VERSION = 1
CATEGORIES = ("image", "video", "audio", "llm", "3d", "tools", "other")
"""A fixed list, so a typo in a user entry is caught instead of creating a category of one."""
Complexity = Literal["easy", "medium", "advanced"]
COMPLEXITIES: tuple[Complexity, ...] = ("easy", "medium", "advanced")
DEFAULT_ICON = "📦"
MAX_ICON_CHARS = 16
"""An emoji can take several code points (skin tones, joiners); a word or a file name is not an icon."""

_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_GIT_URL_RE = re.compile(r"(?:https?|ssh|git|file)://\S+|[\w.-]+@[\w.-]+:\S+")
_REQUIRED = ("id", "url", "title")
_KEYS = ("id", "url", "title", "description", "category", "tags", "complexity", "vram_gb", "disk_gb", "gpu",
         "icon", "homepage", "bundle", "conda")
BUNDLE_NAMES = ("ai", "dev", "python", "javascript")
"""The ``requires: {bundle}`` names a launcher can declare (envs.tools.BUNDLES)."""
_Bad: TypeAlias = Callable[[str], CatalogError]
_VENDOR_NAMES = {"nvidia": "NVIDIA", "amd": "AMD", "apple": "Apple", "intel": "Intel"}


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One installable launcher. Built by ``parse_entry``, which checks every field."""

    id: str
    """Lower-case name used by ``pinokiocloud install ID``: letters, digits, ``.``, ``_``, ``-``."""
    url: str
    """Git URL of the launcher repository (the repo with ``pinokio.js``), cloned on install."""
    title: str
    description: str = ""
    category: str = "other"
    tags: tuple[str, ...] = ()
    complexity: Complexity = "medium"
    vram_gb: float = 0
    """GPU memory the app needs; 0 when it runs without a GPU. Bundled values are estimates."""
    disk_gb: float = 0
    """Disk the install takes (environment, code, default models)."""
    gpu: str | None = None
    """GPU vendor the app requires (``nvidia``, ``amd``, ``apple``, ``intel``), or ``None`` for any or none."""
    icon: str = DEFAULT_ICON
    homepage: str | None = None
    """The upstream project, for people who want to read more; not used to install."""
    bundle: str | None = None
    """The tool bundle its launcher declares (``requires: {bundle}``), so the Library can say before install
    which tools this machine lacks and will get."""
    conda: bool = False
    """Its launcher makes a conda environment (packages from conda-forge or PINOKIOCLOUD_CONDA_CHANNELS)."""
    origin: Literal["bundled", "user"] = "bundled"
    """Which file the entry came from (not a key in the file)."""

    @property
    def requirements(self) -> Requirements:
        return Requirements(vram_gb=self.vram_gb, disk_gb=self.disk_gb, gpu=self.gpu)

    def to_search_item(self) -> SearchItem:
        """The entry for ``search.rank``; its category counts as a tag, so "video" finds every video app."""
        tags = self.tags if self.category in self.tags else (*self.tags, self.category)
        return SearchItem(id=self.id, title=self.title, description=self.description, tags=tags, source="catalog")

    def to_json(self) -> dict[str, object]:
        """The entry as a catalog file holds it (for ``--json`` output and the API)."""
        data = {key: getattr(self, key) for key in _KEYS}
        data["tags"] = list(self.tags)
        return data


@dataclass(frozen=True, slots=True)
class Capacity:
    """What a machine offers an app, for "does it fit": the selected GPU and the free disk at PINOKIO_HOME.

    ``gpu=None`` means the machine has no GPU. ``disk=None`` means "do not check disk" (the UI's GPU-only
    filter); to report an unmeasurable disk, pass a ``DiskInfo`` with ``free_gb=None``.
    """

    gpu: GpuInfo | None = None
    disk: DiskInfo | None = None

    @classmethod
    def of(
        cls,
        *,
        gpu_vendor: str | None = None,
        vram_gb: float = 0,
        disk_free_gb: float | None = None,
        where: str = "PINOKIO_HOME",
    ) -> Capacity:
        """From plain numbers (CLI flags, UI sliders) instead of detected platform facts."""
        if gpu_vendor is None:
            if vram_gb > 0:
                raise BadParamError(f"{vram_gb:g} GB of GPU memory was given without a GPU vendor; "
                                    f"give one of {', '.join(GPU_VENDORS)}")
            gpu = None
        else:
            vendor = gpu_vendor.lower()
            if vendor not in GPU_VENDORS:
                raise BadParamError(f"unknown GPU vendor {gpu_vendor!r}; use one of {', '.join(GPU_VENDORS)}")
            gpu = GpuInfo(vendor, f"{_VENDOR_NAMES[vendor]} GPU", None, round(vram_gb))
        disk = None if disk_free_gb is None else DiskInfo(where, where, None, disk_free_gb, True)
        return cls(gpu=gpu, disk=disk)


def fit(entry: CatalogEntry, capacity: Capacity) -> Fit:
    """Whether ``entry`` fits ``capacity``, with the reasons when not (the platform policy's wording)."""
    needs = entry.requirements
    if capacity.disk is None:
        needs = dataclasses.replace(needs, disk_gb=0)
    return check_requirements(needs, gpu=capacity.gpu, disk=capacity.disk)


@dataclass(frozen=True, slots=True)
class Catalog:
    """Bundled entries merged with the user's, in catalog order (bundled first, then new user ids)."""

    entries: tuple[CatalogEntry, ...]
    problems: tuple[CatalogError, ...] = ()
    """What was wrong with the user file; those entries (or the whole file) were left out."""
    user_file: Path | None = None
    """The user file that was read, when there was one."""

    def __iter__(self) -> Iterator[CatalogEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, app_id: object) -> bool:
        return isinstance(app_id, str) and self.get(app_id) is not None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(entry.id for entry in self.entries)

    def get(self, app_id: str) -> CatalogEntry | None:
        """The entry with this id (any case), or ``None``."""
        wanted = app_id.strip().lower()
        return next((entry for entry in self.entries if entry.id == wanted), None)

    def lookup(self, app_id: str) -> CatalogEntry:
        """The entry with this id, or a ``BadParamError`` that suggests close ids."""
        entry = self.get(app_id)
        if entry is not None:
            return entry
        close = difflib.get_close_matches(app_id.strip().lower(), self.ids, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise BadParamError(f"no app {app_id!r} in the catalog{hint} (`pinokiocloud search` lists them)")

    def filter(
        self,
        *,
        category: str | None = None,
        tag: str | None = None,
        fits: Capacity | None = None,
    ) -> list[CatalogEntry]:
        """Entries in ``category``, carrying ``tag`` (any case) and fitting ``fits``; ``None`` skips a test."""
        if category is not None and category.lower() not in CATEGORIES:
            raise BadParamError(f"unknown category {category!r}; use one of {', '.join(CATEGORIES)}")
        wanted_tag = tag.strip().lower() if tag is not None else None
        return [
            entry for entry in self.entries
            if (category is None or entry.category == category.lower())
            and (wanted_tag is None or wanted_tag in entry.tags)
            and (fits is None or fit(entry, fits).fits)
        ]

    def search_items(self) -> list[SearchItem]:
        """The entries as ``search.rank`` takes them."""
        return [entry.to_search_item() for entry in self.entries]


def load_catalog(home: Path) -> Catalog:
    """The bundled catalog with ``home/catalog.json`` merged over it.

    Never raises for the user file: its problems are in ``Catalog.problems`` and its good entries are kept.
    Raises ``CatalogError`` only when the bundled catalog is broken.
    """
    bundled = _bundled_entries()
    user_file = home / USER_CATALOG_NAME
    if not user_file.exists() and not user_file.is_symlink():
        return Catalog(bundled)
    user_entries, problems = _read_file(user_file, origin="user")
    merged = {entry.id: entry for entry in bundled}
    for entry in user_entries:
        merged[entry.id] = entry  # dicts keep the first position of a key, so replaced ids keep their place
    return Catalog(tuple(merged.values()), tuple(problems), user_file)


def read_catalog_file(path: Path) -> tuple[CatalogEntry, ...]:
    """Every entry of a catalog file, or the first problem raised as ``CatalogError`` (for checking a file)."""
    entries, problems = _read_file(path, origin="user")
    if problems:
        raise problems[0]
    return tuple(entries)


@functools.cache
def _bundled_entries() -> tuple[CatalogEntry, ...]:
    entries, problems = _read_file(BUNDLED_CATALOG, origin="bundled")
    if problems:
        raise problems[0]
    return tuple(entries)


def _read_file(path: Path, *, origin: Literal["bundled", "user"]) -> tuple[list[CatalogEntry], list[CatalogError]]:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return [], [CatalogError(source, f"is not UTF-8 text ({exc.reason} at byte {exc.start})")]
    except OSError as exc:
        return [], [CatalogError(source, f"cannot be read ({exc.strerror or exc})")]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [CatalogError(source, f"is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}")]
    return _parse_document(data, source, origin)


def _parse_document(
    data: object, source: str, origin: Literal["bundled", "user"],
) -> tuple[list[CatalogEntry], list[CatalogError]]:
    if not isinstance(data, dict) or not isinstance(data.get("apps"), list):
        return [], [CatalogError(source, 'must be a JSON object with an "apps" list: {"version": 1, "apps": [...]}')]
    version = data.get("version", CATALOG_FORMAT_VERSION)
    if version != CATALOG_FORMAT_VERSION:
        return [], [CatalogError(source, f"has format version {version!r}; this PinokioCloud reads version "
                                         f"{CATALOG_FORMAT_VERSION}")]
    entries: list[CatalogEntry] = []
    problems: list[CatalogError] = []
    seen: set[str] = set()
    for index, raw in enumerate(cast(list[object], data["apps"]), start=1):
        try:
            entry = parse_entry(raw, source=source, index=index, origin=origin)
        except CatalogError as exc:
            problems.append(exc)
            continue
        if entry.id in seen:
            problems.append(CatalogError(source, "this id appears twice in the file; the first one is used",
                                         entry=repr(entry.id)))
            continue
        seen.add(entry.id)
        entries.append(entry)
    return entries, problems


def parse_entry(
    raw: object,
    *,
    source: str = "catalog",
    index: int = 0,
    origin: Literal["bundled", "user"] = "user",
) -> CatalogEntry:
    """Check one entry object and build it; ``CatalogError`` names the file, the entry and the first problem."""
    label = f"#{index}"
    if not isinstance(raw, dict):
        raise CatalogError(source, f"must be a JSON object, not {_json_type(raw)}", entry=label)
    fields = cast(dict[str, object], raw)
    if isinstance(fields.get("id"), str):
        label = repr(fields["id"])

    def bad(reason: str) -> CatalogError:
        return CatalogError(source, reason, entry=label)

    unknown = [key for key in fields if key not in _KEYS]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, _KEYS, n=1)
        raise bad(f"unknown key {key!r}" + (f"; did you mean {close[0]!r}?" if close else
                                            f"; the keys are {', '.join(_KEYS)}"))
    missing = [key for key in _REQUIRED if key not in fields]
    if missing:
        raise bad(f"missing {', '.join(repr(key) for key in missing)} (every entry needs id, url and title)")

    app_id = _text(fields, "id", bad)
    if not _ID_RE.fullmatch(app_id):
        raise bad(f"id {app_id!r} must be 1-64 lower-case letters, digits, '.', '_' or '-', starting with a "
                  "letter or digit (it becomes a folder name)")
    url = _text(fields, "url", bad)
    if not _GIT_URL_RE.fullmatch(url):
        raise bad(f"url {url!r} is not a git URL (https://host/owner/repo.git, ssh://…, file://… or "
                  "user@host:path)")
    title = _text(fields, "title", bad)
    description = _text(fields, "description", bad, default="", allow_empty=True)

    category = _text(fields, "category", bad, default="other").lower()
    if category not in CATEGORIES:
        raise bad(f"category {category!r} is not one of {', '.join(CATEGORIES)}")
    complexity = _text(fields, "complexity", bad, default="medium").lower()
    if complexity not in COMPLEXITIES:
        raise bad(f"complexity {complexity!r} is not one of {', '.join(COMPLEXITIES)}")

    tags_raw = fields.get("tags", [])
    if not isinstance(tags_raw, list) or not all(isinstance(t, str) and t.strip() for t in tags_raw):
        raise bad("tags must be a list of non-empty strings")
    tags = tuple(dict.fromkeys(t.strip().lower() for t in cast(list[str], tags_raw)))

    vram_gb = _size(fields, "vram_gb", bad)
    disk_gb = _size(fields, "disk_gb", bad)
    gpu_raw = fields.get("gpu")
    if gpu_raw is not None and (not isinstance(gpu_raw, str) or gpu_raw.lower() not in GPU_VENDORS):
        raise bad(f"gpu {gpu_raw!r} must be null (any or none) or one of {', '.join(GPU_VENDORS)}")
    gpu = gpu_raw.lower() if isinstance(gpu_raw, str) else None

    icon = _text(fields, "icon", bad, default=DEFAULT_ICON)
    if len(icon) > MAX_ICON_CHARS:
        raise bad(f"icon must be an emoji (at most {MAX_ICON_CHARS} characters), not {icon[:20]!r}…")
    homepage_raw = fields.get("homepage")
    if homepage_raw is not None and (not isinstance(homepage_raw, str)
                                     or not homepage_raw.startswith(("https://", "http://"))):
        raise bad("homepage must be null or an http(s) URL")
    homepage = homepage_raw if isinstance(homepage_raw, str) else None
    bundle = fields.get("bundle")
    if bundle is not None and bundle not in BUNDLE_NAMES:
        raise bad(f"bundle {bundle!r} must be null or one of {', '.join(BUNDLE_NAMES)}")
    conda = fields.get("conda", False)
    if not isinstance(conda, bool):
        raise bad("conda must be true or false")

    return CatalogEntry(
        id=app_id, url=url, title=title, description=description, category=category, tags=tags,
        complexity=complexity, vram_gb=vram_gb, disk_gb=disk_gb, gpu=gpu, icon=icon,
        homepage=homepage, bundle=bundle if isinstance(bundle, str) else None, conda=conda, origin=origin,
    )


def _text(
    fields: Mapping[str, object],
    key: str,
    bad: _Bad,
    *,
    default: str | None = None,
    allow_empty: bool = False,
) -> str:
    value = fields.get(key, default)
    if not isinstance(value, str):
        raise bad(f"{key} must be a string, not {_json_type(value)}")
    value = value.strip()
    if not value and not allow_empty:
        raise bad(f"{key} must not be empty")
    return value


def _size(fields: Mapping[str, object], key: str, bad: _Bad) -> float:
    value = fields.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad(f"{key} must be a number of GB, not {_json_type(value)}")
    if value < 0:
        raise bad(f"{key} must not be negative")
    return float(value)


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type, as a user wrote it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, Sequence):
        return "a list"
    return "an object"
