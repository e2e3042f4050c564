"""Analyzers: expected tokens per language and per filter, batch == single, errors."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedb.errors import ParamError
from embedb.text import LANGUAGES, analyzer_for_language, build_analyzer, language_code, stop_words

# (language, text, expected tokens): Snowball stemming and the shipped stop word lists.
LANGUAGE_TABLE = [
    ("en", "The quick brown foxes were jumping over the lazy dogs!", ["quick", "brown", "fox", "jump", "lazi", "dog"]),
    ("en", "Don't panic: it's 42.", ["panic", "42"]),
    ("de", "Die Häuser sind schöner als die Bäume.", ["haus", "schon", "baum"]),
    ("fr", "Les enfants jouaient dans les jardins", ["enfant", "jou", "jardin"]),
    ("es", "Los niños estaban corriendo por las calles", ["niñ", "corr", "call"]),
    ("it", "I bambini giocavano nelle strade", ["bambin", "gioc", "strad"]),
    ("pt", "As crianças estavam brincando nas ruas", ["crianc", "brinc", "ruas"]),
    ("ru", "Красивые дома стоят на берегу реки", ["красив", "дом", "сто", "берег", "рек"]),
    ("nl", "De kinderen speelden in de tuinen", ["kinder", "speel", "tuin"]),
    ("sv", "Barnen lekte i trädgårdarna", ["barn", "lekt", "trädgård"]),
    ("fi", "Lapset leikkivät puutarhoissa", ["laps", "leikkiv", "puutarho"]),
]


@pytest.mark.parametrize("language,text,expected", LANGUAGE_TABLE)
def test_language_analyzers_produce_expected_tokens(language, text, expected):
    assert analyzer_for_language(language)(text) == expected


def test_chinese_uses_jieba_and_drops_punctuation():
    pytest.importorskip("jieba")
    tokens = analyzer_for_language("zh")("我爱北京天安门，Hello World！")
    assert tokens == ["爱", "北京", "天安门", "hello", "world"]


def test_language_names_and_codes_are_equivalent():
    for name, code in [("english", "en"), ("German", "de"), ("_french_", "fr"), ("sp", "es"), ("pt-BR", "pt")]:
        assert language_code(name) == code
    text = "Gardens and running"
    assert build_analyzer({"type": "english"})(text) == analyzer_for_language("en")(text)
    assert set(LANGUAGES) >= {"en", "de", "fr", "es", "it", "pt", "ru", "zh"}


def test_stop_word_lists_are_shipped():
    assert {"the", "and", "of", "don"} <= stop_words("en")
    assert {"der", "die", "das"} <= stop_words("_german_")
    assert "и" in stop_words("russian")
    with pytest.raises(ParamError, match="no built-in stop word list"):
        stop_words("fi")


# Milvus-shaped analyzer_params -> tokens
PARAMS_TABLE = [
    (None, "The Milvus vector database is built for scale!", ["the", "milvus", "vector", "database", "is", "built", "for", "scale"]),
    ({"type": "standard", "stop_words": ["the", "is"]}, "The Milvus database is fast", ["milvus", "database", "fast"]),
    ({"tokenizer": "whitespace"}, "Hello, World! a-b", ["Hello,", "World!", "a-b"]),
    ({"tokenizer": "whitespace", "filter": ["removepunct"]}, "Hello , World ! ...", ["Hello", "World"]),
    ({"tokenizer": "standard"}, "foo_bar 3.14 Ünïcode", ["foo", "bar", "3", "14", "Ünïcode"]),
    ({"tokenizer": "standard", "filter": ["asciifolding"]}, "Café naïve Straße Øre", ["Cafe", "naive", "Strasse", "Ore"]),
    ({"tokenizer": "standard", "filter": ["alphanumonly"]}, "abc 123 café x9", ["abc", "123", "x9"]),
    ({"tokenizer": "standard", "filter": ["cnalphanumonly"]}, "abc 中 café", ["abc", "中"]),
    ({"tokenizer": "standard", "filter": ["cncharonly"]}, "abc 中 文", ["中", "文"]),
    ({"tokenizer": "standard", "filter": [{"type": "length", "max": 3}]}, "a bb ccc dddd", ["a", "bb", "ccc"]),
    ({"tokenizer": "standard", "filter": [{"type": "length", "min": 2, "max": 3}]}, "a bb ccc dddd", ["bb", "ccc"]),
    ({"tokenizer": "standard", "filter": ["lowercase", {"type": "stop", "stop_words": ["_english_", "milvus"]}]}, "The Milvus of X", ["x"]),
    ({"tokenizer": "standard", "filter": ["lowercase", {"type": "stemmer", "language": "english"}]}, "Running runs", ["run", "run"]),
    ({"tokenizer": "standard", "filter": [{"type": "regex", "expr": "^[a-z]+$"}]}, "abc Abc a1", ["abc"]),
    ({"tokenizer": "standard", "filter": ["lowercase", {"type": "decompounder", "word_list": ["dampf", "schiff", "fahrt"]}]},
     "Dampfschifffahrt dampfer", ["dampf", "schiff", "fahrt", "dampfer"]),
    ({"tokenizer": "icu"}, "Ελληνικά και 日本", ["Ελληνικά", "και", "日", "本"]),
    ({"type": "german"}, "Häuser", ["haus"]),
]


@pytest.mark.parametrize("params,text,expected", PARAMS_TABLE)
def test_analyzer_params_produce_expected_tokens(params, text, expected):
    assert build_analyzer(params)(text) == expected


def test_positions_keep_gaps_of_dropped_tokens():
    a = build_analyzer({"type": "english"})
    batch = a.analyze_batch(["the cat and the hat", "", "hats"])
    assert batch.tokens(0) == ["cat", "hat"]
    assert batch.positions[:2].tolist() == [1, 4]
    assert batch.tokens(1) == [] and batch.tokens(2) == ["hat"]
    assert batch.offsets.tolist() == [0, 2, 2, 3]
    detail = a.analyze_detail("the cats")
    assert detail == [{"token": "cat", "start_offset": 4, "end_offset": 8, "position": 1, "position_length": 1}]


def test_decompounded_parts_share_the_position():
    a = build_analyzer({"tokenizer": "standard", "filter": [{"type": "decompounder", "word_list": ["ab", "cd"]}]})
    batch = a.analyze_batch(["x abcd y"])
    assert batch.tokens(0) == ["x", "ab", "cd", "y"]
    assert batch.positions.tolist() == [0, 1, 1, 2]


WORDS = st.sampled_from(["The", "running", "dogs", "Café", "naïve", "x", "3.14", "foo_bar", "Äpfel", "--", "!", "a-b", "中文", "don't"])


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.lists(WORDS, max_size=8).map(" ".join), max_size=6),
       params=st.sampled_from([{"type": "english"}, {"type": "german"}, {"tokenizer": "whitespace", "filter": ["lowercase", "removepunct"]},
                               {"tokenizer": "standard", "filter": ["asciifolding", {"type": "decompounder", "word_list": ["foo", "bar", "ru", "nning"]}]}]))
def test_batch_analysis_equals_one_text_at_a_time(texts, params):
    a = build_analyzer(params)
    batch = a.analyze_batch(texts)
    assert [batch.tokens(i) for i in range(len(texts))] == [a(t) for t in texts] == a.tokenize_batch(texts)
    assert len(batch.positions) == len(batch.ids) == batch.offsets[-1]


def test_no_punctuation_tokens_from_word_tokenizers():
    text = "¡Hola! ¿Qué tal? -- “quoted” (paren) [x] {y} 'single' ... !!! 1,000.5 e-mail @user #tag"
    word = re.compile(r"[^\W_]+")
    for params in ({"type": "english"}, {"type": "spanish"}, None, {"tokenizer": "icu"}):
        tokens = build_analyzer(params)(text)
        assert tokens and all(word.fullmatch(t) for t in tokens)


@pytest.mark.parametrize(
    "params,message",
    [
        ({"type": "klingon"}, "unknown analyzer type"),
        ({"tokenizer": "nope"}, "unknown tokenizer type"),
        ({"tokenizer": "standard", "filter": ["nope"]}, "unknown filter type"),
        ({"tokenizer": "standard", "filter": ["length"]}, "needs options"),
        ({"tokenizer": "standard", "filter": [{"type": "length"}]}, "needs 'max'"),
        ({"tokenizer": "standard", "filter": [{"type": "stemmer", "language": "klingon"}]}, "unknown language"),
        ({"tokenizer": "standard", "filter": [{"type": "stop", "stop_words": ["_klingon_"]}]}, "unknown language"),
        ({"tokenizer": "standard", "filter": [{"type": "regex", "expr": "("}]}, "invalid expr"),
        ({"type": "english", "tokenizer": "standard"}, "unknown key"),
        ({"filter": ["lowercase"]}, "needs a 'tokenizer'"),
        ({"tokenizer": {"type": "jieba", "mode": "fast"}}, "mode must be"),
        ([1, 2], "must be a dict"),
    ],
)
def test_bad_params_raise_clear_errors(params, message):
    with pytest.raises(ParamError, match=message):
        build_analyzer(params)


def test_non_string_text_is_rejected():
    a = build_analyzer(None)
    with pytest.raises(ParamError, match="text 1: expected a string"):
        a.analyze_batch(["ok", 3])


def test_stems_agree_with_the_independent_snowball_implementation():
    snowballstemmer = pytest.importorskip("snowballstemmer")
    for language, text, _ in LANGUAGE_TABLE:
        a = analyzer_for_language(language)
        stop = [{"type": "stop", "stop_words": [f"_{language}_"]}] if language != "fi" else []
        lowered = build_analyzer({"tokenizer": "standard", "filter": ["lowercase", *stop]})(text)
        reference = snowballstemmer.stemmer(a.filters[-1].language).stemWords(lowered)
        assert a(text) == reference


def test_jieba_options():
    pytest.importorskip("jieba")
    text = "南京市长江大桥"
    exact = build_analyzer({"tokenizer": {"type": "jieba", "mode": "exact"}})(text)
    search = build_analyzer({"tokenizer": {"type": "jieba", "mode": "search"}})(text)
    assert "".join(exact) == text
    assert set(exact) <= set(search) and len(search) > len(exact)
    custom = build_analyzer({"tokenizer": {"type": "jieba", "dict": ["长江大桥"]}})(text)
    assert "长江大桥" in custom
    assert build_analyzer({"tokenizer": {"type": "jieba", "dict": ["长江大桥"]}}).params["tokenizer"]["dict"] == ["长江大桥"]


def test_params_rebuild_an_equal_analyzer_and_are_cached():
    text = "Die Häuser, the HOUSES — 中文 naïve café"
    for params in [{"type": "german"}, {"tokenizer": "standard", "filter": ["lowercase", "asciifolding"]},
                   {"type": "standard", "stop_words": ["the"]}]:
        a = build_analyzer(params)
        assert build_analyzer(a.params) is a  # cached by params
        assert build_analyzer(json.dumps(params))(text) == a(text)


def test_cjk_characters_get_their_own_positions():
    a = build_analyzer(None)
    batch = a.analyze_batch(["ab 中文字 cd"])
    assert batch.tokens(0) == ["ab", "中", "文", "字", "cd"]
    assert batch.positions.tolist() == [0, 1, 2, 3, 4]


def test_memo_reset_keeps_results_correct(monkeypatch):
    from embedb.text import analyzer as analyzer_module

    monkeypatch.setattr(analyzer_module, "_MEMO_LIMIT", 5)
    a = analyzer_module.Analyzer(build_analyzer({"type": "english"}).tokenizer,
                                 build_analyzer({"type": "english"}).filters)
    texts = [" ".join(f"word{i}{j} running" for j in range(4)) for i in range(6)]
    for _ in range(2):
        batch = a.analyze_batch(texts)
        assert [batch.tokens(i) for i in range(len(texts))] == [a(t) for t in texts]


# One sentence per Snowball language, stemmed by the analyzer and by the independent pure-Python
# snowballstemmer package after the same tokenising, lowercasing and stop word removal.
SENTENCES = {
    "ar": "الأطفال يلعبون في الحدائق الجميلة", "hy": "Երեխաները խաղում են այգիներում",
    "eu": "Haurrak lorategietan jolasten ari dira", "ca": "Els nens jugaven als jardins",
    "cs": "Děti si hrály v zahradách", "da": "Børnene legede i haverne", "nl": "De kinderen speelden in de tuinen",
    "en": "The children were playing in the gardens", "eo": "La infanoj ludis en la ĝardenoj",
    "et": "Lapsed mängisid aedades", "fi": "Lapset leikkivät puutarhoissa", "fr": "Les enfants jouaient dans les jardins",
    "de": "Die Kinder spielten in den Gärten", "el": "Τα παιδιά έπαιζαν στους κήπους",
    "hi": "बच्चे बगीचों में खेल रहे थे", "hu": "A gyerekek a kertekben játszottak", "id": "Anak-anak bermain di kebun",
    "ga": "Bhí na páistí ag imirt sna gairdíní", "it": "I bambini giocavano nei giardini",
    "lt": "Vaikai žaidė soduose", "ne": "बच्चाहरू बगैंचामा खेलिरहेका थिए", "no": "Barna lekte i hagene",
    "fa": "کودکان در باغ‌ها بازی می‌کردند", "pl": "Dzieci bawiły się w ogrodach", "pt": "As crianças brincavam nos jardins",
    "ro": "Copiii se jucau în grădini", "ru": "Дети играли в садах", "sr": "Деца су се играла у баштама",
    "st": "Bana ba ne ba bapala dirapeng", "es": "Los niños jugaban en los jardines", "sv": "Barnen lekte i trädgårdarna",
    "ta": "குழந்தைகள் தோட்டங்களில் விளையாடினர்", "tr": "Çocuklar bahçelerde oynuyordu", "yi": "די קינדער האָבן געשפּילט אין די גערטנער",
}


@pytest.mark.parametrize("code", sorted(SENTENCES))
def test_every_snowball_language_matches_the_reference_stemmer(code):
    snowballstemmer = pytest.importorskip("snowballstemmer")
    from embedb.text.languages import STEMMERS, STOP_WORD_LANGUAGES

    a = analyzer_for_language(code)
    text = SENTENCES[code]
    stop = [{"type": "stop", "stop_words": [f"_{code}_"]}] if code in STOP_WORD_LANGUAGES else []
    words = build_analyzer({"tokenizer": "standard", "filter": ["lowercase", *stop]})(text)
    assert words, code
    assert a(text) == snowballstemmer.stemmer(STEMMERS[code]).stemWords(words)
    assert set(STEMMERS) == set(SENTENCES)


def test_concurrent_batches_on_one_analyzer_agree():
    from concurrent.futures import ThreadPoolExecutor

    from embedb.text import analyzer as analyzer_module

    a = analyzer_module.Analyzer(build_analyzer({"type": "english"}).tokenizer,
                                 build_analyzer({"type": "english"}).filters)
    batches = [[f"text{b} word{b}{i} running{i % 7} shared" for i in range(300)] for b in range(8)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(a.analyze_batch, batches))
    for texts, batch in zip(batches, results):
        assert [batch.tokens(i) for i in range(len(texts))] == [a(t) for t in texts]
