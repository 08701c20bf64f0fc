"""The orchestration on top: the command line, recipes and the search. The only code that uses both the stages and
the harness (eval)."""
