"""The orchestration on top: the command line, recipes and the search. The only code that uses both the stages and
the harness, which it reaches through the plugin seam compress.core.registry.harness(), never by importing eval."""
