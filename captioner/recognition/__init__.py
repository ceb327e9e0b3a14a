"""Naming what is in a real photograph: ImageNet names for where the caption looked, people, places."""
