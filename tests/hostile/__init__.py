"""A corpus of hostile submissions and the small course they are graded in."""
