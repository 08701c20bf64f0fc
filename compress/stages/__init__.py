"""The stages: each module turns a model (and data) into a saved artifact plus its metrics, and registers its
command. A stage imports only what stages share (compress.core), never another stage, the harness or the engine."""
