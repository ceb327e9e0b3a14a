"""Naming what is in a real photograph beyond the caption decoder's words: ImageNet names for where the
caption looked (classifier, names, naming), people and counts from a COCO detector (detector)."""
