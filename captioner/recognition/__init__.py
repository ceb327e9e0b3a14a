"""Visual recognisers that name what is in a real photograph beyond the caption decoder's words."""
