"""The instructor's exports: the student release, nbgrader, GitHub Classroom and Gradescope.

The top layer under the command line: it may use the student loop, the sandbox, grading and the course.
"""
