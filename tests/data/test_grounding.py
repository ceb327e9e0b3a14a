import pytest

from captioner.data.grounding import ground_caption, objects_named

OBJECTS = [
    {"shape": "circle", "color": "red", "size": "small", "box": [0, 0, 10, 10]},
    {"shape": "square", "color": "blue", "size": "large", "box": [20, 20, 40, 40]},
    {"shape": "circle", "color": "red", "size": "large", "box": [50, 0, 70, 20]},
]


def test_singular_phrase_with_size_finds_its_object():
    words = "a small red circle to the left of a blue square".split()
    phrases = ground_caption(words, OBJECTS)
    assert [(p.word_indices, p.objects) for p in phrases] == [([1, 2, 3], [0]), ([9, 10], [1])]


def test_ambiguous_singular_is_not_grounded_but_plural_takes_all():
    assert ground_caption("a red circle".split(), OBJECTS) == []  # two red circles fit
    (phrase,) = ground_caption("two red circles".split(), OBJECTS)
    assert phrase.objects == [0, 2] and phrase.word_indices == [1, 2]


def test_wrong_description_is_not_grounded():
    assert ground_caption("a green square".split(), OBJECTS) == []
    assert ground_caption("a small blue square".split(), OBJECTS) == []  # the blue square is large


def test_objects_named():
    assert objects_named("two red circles and a big blue square".split(), OBJECTS)
    assert not objects_named("two red circles and a square".split(), OBJECTS)
    assert not objects_named("a red square and a blue circle".split(), OBJECTS)


def test_grounding_functions_are_picked_by_the_data_set_name():
    import sys

    from captioner.data import grounding

    assert grounding.grounding_for("synth") is grounding
    assert grounding.grounding_for(None) is grounding  # files written before the "dataset" field
    with pytest.raises(ValueError, match="no grounding for data set 'coco'"):
        grounding.grounding_for("coco")
    # "objects" names its module lazily: nothing imports it until a data set asks for it.
    assert grounding.GROUNDING_MODULES["objects"] == "captioner.data.objects"
    assert "captioner.data.objects" not in sys.modules or grounding.grounding_for("objects").__name__ == "captioner.data.objects"
