from service.verify import normalize, score_words, words


def test_bidi_controls_and_tashkeel_are_ignored():
    assert words("\u202bمؤكداً\u202c أن") == ["مؤكدا", "أن"]
    assert normalize("ﻻ") == "لا"


def test_score_counts_words_in_order():
    score = score_words("أ ب ج د", "أ ج ب د")
    assert score.expected == 4 and score.in_order == 3


def test_glued_words_count_as_lost():
    score = score_words("68 عاما", "68عاما")
    assert score.in_order == 0


def test_changed_word_counts_letters():
    score = score_words("قال الكويت اليوم", "قال اللكويت اليوم")
    assert score.in_order == 2 and score.missing == ["الكويت"]
    assert score.letters_inserted == 1 and score.letters_dropped == 0


def test_reordered_words_are_told_apart_from_missing():
    score = score_words("أ ب ج", "ج أ ب")
    assert score.in_order == 2 and score.reordered == ["ج"] and score.missing == []
