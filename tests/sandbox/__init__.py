"""Contract tests for the sandbox SCM, over real HTTP (checklist items of scm-api.md §11)."""
