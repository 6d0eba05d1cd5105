"""The Gradescope export: the autograder zip, the script it runs and the ``results.json`` it writes."""
