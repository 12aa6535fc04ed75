"""Search ranking over installed apps and catalog entries: what a user typing a query would notice."""

from __future__ import annotations

import pytest

from pinokiocloud.apps.catalog import load_catalog
from pinokiocloud.apps.search import SearchHit, SearchItem, rank, terms


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> list[SearchItem]:
    return load_catalog(tmp_path_factory.mktemp("home")).search_items()


def ids(hits: list[SearchHit]) -> list[str]:
    return [hit.item.id for hit in hits]


# --- with the bundled catalog ----------------------------------------------------------------------------


def test_comfy_finds_comfyui_first(items: list[SearchItem]) -> None:
    assert ids(rank("comfy", items))[0] == "comfyui"
    assert ids(rank("ComfyUI", items))[0] == "comfyui"


def test_voice_finds_vibevoice_and_rvc(items: list[SearchItem]) -> None:
    found = ids(rank("voice", items))
    assert {"vibevoice", "rvc-realtime"} <= set(found)
    assert found.index("rvc-realtime") < found.index("vibevoice"), \
        "the whole word in RVC's title beats the substring inside 'VibeVoice'"


def test_remove_background_finds_bria_rmbg_first(items: list[SearchItem]) -> None:
    assert ids(rank("remove background", items))[0] == "bria-rmbg"
    assert ids(rank("rmbg", items)) == ["bria-rmbg"]


def test_other_queries_a_user_would_type(items: list[SearchItem]) -> None:
    assert ids(rank("face swap", items))[0] == "facefusion"
    assert ids(rank("upscale", items))[0] == "clarity-refiners-ui"
    assert ids(rank("a1111", items))[0] == "automatic1111"
    assert ids(rank("text to speech", items))[0] == "vibevoice"
    assert ids(rank("subtitles", items)) == ["whisper-webui"]
    assert set(ids(rank("stable diffusion", items))[:2]) == {"automatic1111", "forge"}
    assert ids(rank("stablediffusion", items))[:2] == ids(rank("stable diffusion", items))[:2]


def test_category_counts_as_a_tag(items: list[SearchItem]) -> None:
    video = set(ids(rank("video", items)))
    assert {"moore-animateanyone", "facefusion", "liveportrait", "framepack"} <= video


def test_nothing_matches_nonsense(items: list[SearchItem]) -> None:
    assert rank("xyzzy", items) == []


def test_empty_query_lists_everything_in_order(items: list[SearchItem]) -> None:
    for query in ("", "   ", "!?"):
        hits = rank(query, items)
        assert [hit.item for hit in hits] == items
        assert all(hit.score == 0 and hit.matched == () for hit in hits)


# --- the ranking rules, on made-up items -----------------------------------------------------------------


def item(app_id: str, title: str = "", description: str = "", tags: tuple[str, ...] = (),
         source: str = "catalog") -> SearchItem:
    return SearchItem(app_id, title or app_id, description, tags, source)  # type: ignore[arg-type]


def test_title_beats_tags_beats_description() -> None:
    hits = rank("audio", [item("d", "D", "an audio tool"), item("t", "T", tags=("audio",)),
                          item("x", "Audio Studio")])
    assert ids(hits) == ["x", "t", "d"]
    assert [h.score for h in hits] == [12, 6, 3]


def test_whole_word_beats_prefix_beats_substring() -> None:
    hits = rank("paint", [item("s", "Repainter"), item("p", "Painter"), item("w", "Paint")])
    assert ids(hits) == ["w", "p", "s"]


def test_more_matched_terms_beat_a_higher_score() -> None:
    many = item("many", "Tool", "turns speech into text")
    strong = item("strong", "Speech Speech", tags=("speech",), description="speech")
    assert ids(rank("speech text", [strong, many])) == ["many", "strong"]
    assert rank("speech text", [many])[0].matched == ("speech", "text")


def test_ties_keep_the_given_order_so_installed_apps_can_come_first() -> None:
    installed = item("comfy", "ComfyUI", source="installed")
    catalog = item("comfyui", "ComfyUI")
    assert [h.item.source for h in rank("comfyui", [installed, catalog])] == ["installed", "catalog"]
    assert [h.item.source for h in rank("comfyui", [catalog, installed])] == ["catalog", "installed"]


def test_short_terms_match_words_and_prefixes_but_not_inside_words() -> None:
    assert ids(rank("ui", [item("a", "ComfyUI"), item("b", "UI Kit"), item("c", "Uizard")])) == ["b", "c"]


def test_stopwords_are_dropped_unless_nothing_else_is_left() -> None:
    assert terms("Text to Speech for the app") == ["text", "speech"]
    assert terms("to the") == ["to", "the"]
    assert terms("voice, VOICE; voice-changer") == ["voice", "changer"]


def test_min_match_requires_that_many_terms() -> None:
    both = item("both", "Voice Changer")
    one = item("one", "Voice")
    assert ids(rank("voice changer", [one, both])) == ["both", "one"]
    assert ids(rank("voice changer", [one, both], min_match=2)) == ["both"]
    assert ids(rank("voice", [one, both], min_match=5)) == ["one", "both"], "capped at the number of terms"


def test_substrings_do_not_span_two_tags_or_title_and_id() -> None:
    assert rank("texta", [item("a", "Tool", tags=("text", "audio"))]) == []
    assert rank("kitb", [item("b", "Kit")]) == []


def test_tags_may_be_given_as_a_list() -> None:
    made = SearchItem("x", "X", tags=["a", "b"])  # type: ignore[arg-type]
    assert made.tags == ("a", "b")
    assert hash(made)


def test_non_ascii_text_is_matched() -> None:
    assert ids(rank("GRÜN", [item("g", "Grün Studio"), item("o", "Other")])) == ["g"]
