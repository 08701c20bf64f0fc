"""`compress search` on a tiny model, the cuts it chooses: exports check parity on their own sample, and with no
student inside the budget the input model and the closest student are pruned (a file of its own, so the test runner
spreads the end-to-end searches over the cores)."""

import pytest

from compress.engine import candidates
from compress.engine.candidates import settings_for
from compress.engine.search import search
from compress.stages.export import ExportConfig
from tests.compress.test_search import quick


def test_every_export_checks_parity_on_export_s_own_sample_not_every_validation_row(trained_tiny_bert, tmp_path,
                                                                                     monkeypatch):
    samples, real_make = {}, candidates.make

    def spy(state, name, kind, settings, parent, work=0.0):
        if kind == "export":
            samples[name] = settings_for(ExportConfig, state.config, settings).max_eval_examples
        return real_make(state, name, kind, settings, parent, work)

    monkeypatch.setattr(candidates, "make", spy)
    search(quick(trained_tiny_bert, tmp_path, student_layers=[1], max_eval_examples=None), tmp_path / "winner",
           dry_run=True, log=lambda _: None)
    default = ExportConfig.__dataclass_fields__["max_eval_examples"].default
    assert samples and set(samples.values()) == {default} and default is not None
    samples.clear()
    search(quick(trained_tiny_bert, tmp_path, student_layers=[1], max_eval_examples=48), tmp_path / "winner",
           dry_run=True, log=lambda _: None)
    assert set(samples.values()) == {48}, "a smaller --max-eval-examples is kept"


class Finished(Exception):
    """Raised where the final side-by-side run would start."""


def test_with_no_student_inside_the_budget_the_input_model_and_the_closest_student_are_cut(trained_tiny_bert,
                                                                                            tmp_path, monkeypatch):
    import compress.engine.search

    made, real_make = [], candidates.make

    def spy(state, name, kind, settings, parent, work=0.0):
        made.append(name)
        return real_make(state, name, kind, settings, parent, work)

    monkeypatch.setattr(candidates, "make", spy)
    # Every student misses: no candidate of theirs counts as inside. Which cuts are made is the question, so the
    # int8 variants of each model and the final run are left out.
    monkeypatch.setattr(compress.engine.search.candidates, "best", lambda *args, **kwargs: None)
    monkeypatch.setattr(compress.engine.search, "_post_training", lambda *args: [])

    def stop(*args):
        raise Finished

    monkeypatch.setattr(compress.engine.search, "_final_bench", stop)
    logs = []
    with pytest.raises(Finished):
        search(quick(trained_tiny_bert, tmp_path, student_layers=[1], prune_ratios=[0.25], vocabulary=False,
                     embedding_bits=[8]), tmp_path / "winner", log=logs.append)
    assert "model-prune25" in made and "student1-prune25" in made
    assert made.index("model-prune25") < made.index("student1-prune25"), "the input model first"
    assert any("no student is within the budget: the input model is pruned and narrowed, and student1" in line
               for line in logs)
