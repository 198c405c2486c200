"""Tests of the SCM client (sectigo_operator.scm)."""
