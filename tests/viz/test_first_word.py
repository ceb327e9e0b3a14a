"""The word a caption's heatmaps open on (captioner/viz/first_word.py): the first that names something."""

import pytest

from captioner.viz.first_word import first_naming_word


@pytest.mark.parametrize(
    "caption, first",
    [
        ("a picture of two small blue stars", "stars"),
        ("there is a yellow star to the left of a black triangle", "star"),
        ("a photo of a kettle and an otter", "kettle"),
        ("an image of a little white circle", "circle"),
        ("cat", "cat"),
    ],
)
def test_the_first_word_that_names_something(caption, first):
    words = caption.split()
    assert words[first_naming_word(words)] == first


def test_a_caption_of_function_words_only_or_none_opens_on_its_first_word():
    assert first_naming_word(["a", "the"]) == 0 and first_naming_word([]) == 0
