import pytest

from captioner.vocab import Vocabulary, tokenize


def test_tokenize_lowercases_and_drops_punctuation():
    assert tokenize("A Red circle, left of the BLUE square.") == ["a", "red", "circle", "left", "of", "the", "blue", "square"]
    assert tokenize("  ") == []


def test_build_respects_min_freq_and_specials_first():
    captions = [["a", "cat"], ["a", "dog"], ["a", "cat"]]
    vocab = Vocabulary.build(captions, min_freq=2)
    assert vocab.itos == ["<pad>", "<start>", "<end>", "<unk>", "a", "cat"]
    assert "dog" not in vocab


def test_encode_decode_round_trip_with_unknown_words():
    vocab = Vocabulary.build([["a", "cat"]], min_freq=1)
    ids = vocab.encode(["a", "zebra", "cat"])
    assert ids == [vocab.start_id, vocab.stoi["a"], vocab.unk_id, vocab.stoi["cat"], vocab.end_id]
    assert vocab.decode(ids + [0, 0]) == ["a", "<unk>", "cat"]
    assert vocab.encode(["a", "cat", "a"], max_len=2)[1:-1] == [vocab.stoi["a"], vocab.stoi["cat"]]


def test_json_round_trip(tmp_path):
    vocab = Vocabulary.build([["x", "y", "y"]], min_freq=1)
    vocab.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json").itos == vocab.itos


def test_bad_vocabulary_rejected():
    with pytest.raises(ValueError, match="special tokens"):
        Vocabulary(["a", "b"])
    with pytest.raises(ValueError, match="duplicate"):
        Vocabulary(["<pad>", "<start>", "<end>", "<unk>", "a", "a"])
