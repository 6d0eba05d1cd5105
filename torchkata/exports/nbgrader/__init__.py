"""The nbgrader export: the generated course (source notebooks) and what its cells run in the kernel."""
