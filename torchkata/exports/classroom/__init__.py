"""The GitHub Classroom export: the release's workflow, its grading step and the reporter's results."""
