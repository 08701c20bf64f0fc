"""compress.core.roles: train / validation / test resolved for every data layout, disjoint, seeded, inherited."""

import json
from pathlib import Path

import pytest

from compress.core.data import DataConfig
from compress.core.errors import CompressError
from compress.core.roles import carve, load_roles, resolve_data


def write(path: Path, rows: list[tuple[str, str]], header: str = "sentence\tlabel") -> Path:
    path.write_text(header + "\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    return path


def rows(prefix: str, n: int, classes: int = 2) -> list[tuple[str, str]]:
    return [(f"{prefix} {i}", str(i % classes)) for i in range(n)]


def roles_of(source, lines=None, **settings):
    config = resolve_data(DataConfig(data=str(source), **settings), None)
    return load_roles(config, log=(lines.append if lines is not None else lambda _: None))


def no_overlap(roles) -> None:
    train, validation, test = set(roles.train.ids), set(roles.validation.ids), set(roles.test.ids)
    assert not train & validation and not train & test and not validation & test


def test_train_validation_and_labelled_test_splits_are_used_as_they_are(tmp_path):
    write(tmp_path / "train.tsv", rows("tr", 20))
    write(tmp_path / "validation.tsv", rows("va", 6))
    write(tmp_path / "test.tsv", rows("te", 8))
    roles = roles_of(tmp_path)
    assert (len(roles.train), len(roles.validation), len(roles.test)) == (20, 6, 8)
    assert roles.validation.texts[0] == "va 0" and roles.test.texts[0] == "te 0"
    no_overlap(roles)


def test_glue_layout_carves_validation_from_train_and_reports_on_dev(tmp_path):
    write(tmp_path / "train.tsv", rows("tr", 100))
    write(tmp_path / "dev.tsv", rows("dev", 10))
    (tmp_path / "test.tsv").write_text("index\tsentence\n" + "".join(f"{i}\thidden {i}\n" for i in range(5)))
    lines = []
    roles = roles_of(tmp_path, lines)
    assert roles.test.texts == [f"dev {i}" for i in range(10)]
    assert len(roles.validation) == 10 and len(roles.train) == 90
    assert all(t.startswith("tr ") for t in roles.validation.texts)
    assert set(roles.train.ids) | set(roles.validation.ids) == {f"train.tsv#{i}" for i in range(100)}
    no_overlap(roles)
    assert len(lines) == 1 and "validation = carved from 'train'" in lines[0] and "test = split 'dev'" in lines[0]
    assert "'test' split has no labels" in lines[0]


def test_train_and_test_only_carves_validation_from_train(tmp_path):
    write(tmp_path / "train.tsv", rows("tr", 50, classes=5))
    write(tmp_path / "test.tsv", rows("te", 10, classes=5))
    roles = roles_of(tmp_path)
    assert roles.test.texts[0] == "te 0" and len(roles.validation) == 5
    assert sorted(roles.validation.labels) == ["0", "1", "2", "3", "4"], "stratified: one of each class"
    no_overlap(roles)


def test_a_single_file_gives_validation_and_test_both_carved_and_says_so(tmp_path):
    lines = []
    roles = roles_of(write(tmp_path / "all.tsv", rows("x", 200)), lines)
    assert (len(roles.train), len(roles.validation), len(roles.test)) == (162, 18, 20)
    no_overlap(roles)
    assert "one file: test and validation both carved from it" in lines[0]


def test_the_carve_is_stratified_capped_seeded_and_the_same_in_every_call(tmp_path):
    source = write(tmp_path / "d.tsv", [(f"r{i}", "a" if i < 150 else "b") for i in range(200)])
    first, again = roles_of(source, validation_cap=8), roles_of(source, validation_cap=8)
    assert first.validation.ids == again.validation.ids and first.test.ids == again.test.ids
    assert len(first.test) == 8 and first.test.labels.count("a") == 6, "3:1 like the data"
    other = roles_of(source, validation_cap=8, split_seed=1)
    assert other.test.ids != first.test.ids


def test_carve_keeps_a_class_with_two_rows_in_both_parts():
    from compress.core.data import LabelledText

    data = LabelledText([str(i) for i in range(42)], None, ["big"] * 40 + ["rare"] * 2, ids=[str(i) for i in range(42)])
    rest, carved = carve(data, 0.1, 2000, seed=0)
    assert "rare" in carved.labels and "rare" in rest.labels


def phrase_data():
    """Ten sentences of four words, each with its two-word phrases and one word, like SST-2's train."""
    from compress.core.data import LabelledText

    texts, labels = [], []
    for i in range(10):
        words = [f"w{i}a", f"w{i}b", f"w{i}c", f"w{i}d"]
        for text in (" ".join(words), " ".join(words[:2]), " ".join(words[2:]), words[1]):
            texts.append(text)
            labels.append(str(i % 2))
    texts.append("w0b w0c")  # a phrase of sentence 0 across its halves
    labels.append("0")
    return LabelledText(texts, None, labels, ids=[str(i) for i in range(len(texts))])


def test_a_whole_row_carve_takes_sentences_and_leaves_none_of_their_phrases_in_train():
    data = phrase_data()
    rest, carved = carve(data, 0.2, 2000, seed=0, whole=True)
    assert len(carved) == 2 and all(len(t.split()) == 4 for t in carved.texts), "only whole sentences"
    assert sorted(carved.labels) == ["0", "1"], "stratified"
    kept = " ".join(rest.texts).split()
    for sentence in carved.texts:
        assert not set(sentence.split()) & set(kept), "no phrase of a validation sentence is trained on"
    assert len(rest) == len(data) - 2 * 4 - ("w0a w0b w0c w0d" in carved.texts)
    plain_rest, plain = carve(data, 0.2, 2000, seed=0)
    assert len(plain) == 8 and len(plain_rest) == len(data) - 8


def test_sentences_carved_for_validation_take_their_phrases_out_of_train_and_say_so(tmp_path):
    sentences = [f"s{i} is a {'good' if i % 2 else 'bad'} film" for i in range(40)]
    train = [(s, str(i % 2)) for i, s in enumerate(sentences)] + [(f"s{i} is", str(i % 2)) for i in range(40)]
    write(tmp_path / "train.tsv", train)
    write(tmp_path / "dev.tsv", rows("dev", 10))
    lines = []
    roles = roles_of(tmp_path, lines, whole_rows=True)
    assert all(t.startswith("s") for t in roles.validation.texts) and len(roles.validation) == 4
    assert "whole rows only" in lines[0]
    assert len(roles.train) == 80 - 4 - 4, "less the validation sentences and the phrases inside them"
    no_overlap(roles)


@pytest.mark.parametrize("layout, message", [
    ({"d.tsv": [("only row", "0")]}, "the validation role is empty"),
    ({"d.tsv": [(f"r{i}", "0") for i in range(30)]}, "single class"),
    ({"train.tsv": rows("tr", 20), "dev.tsv": [("d", "0"), ("e", "0")]}, r"test role .* lacks class\(es\) 1"),
    ({"train.tsv": rows("tr", 20), "dev.tsv": [("d", "0"), ("e", "7")]}, r"label\(s\) 7 that train never has"),
])
def test_bad_layouts_are_one_line_errors_naming_the_role(tmp_path, layout, message):
    for name, content in layout.items():
        write(tmp_path / name, content)
    source = tmp_path / next(iter(layout)) if len(layout) == 1 else tmp_path
    with pytest.raises(CompressError, match=message):
        roles_of(source)


def test_pairs_and_single_texts_cannot_mix(tmp_path):
    write(tmp_path / "train.tsv", [("a\tb", "0"), ("c\td", "1")] * 10, header="sentence1\tsentence2\tlabel")
    write(tmp_path / "dev.tsv", rows("d", 4))
    with pytest.raises(CompressError, match="disagree on whether examples are text pairs"):
        roles_of(tmp_path)


def test_duplicates_shared_between_train_and_test_get_a_warning_with_the_count(tmp_path):
    write(tmp_path / "train.tsv", rows("tr", 40))
    write(tmp_path / "test.tsv", [("tr 0", "0"), ("tr 2", "0"), ("new", "1"), ("other", "1")])
    lines = []
    roles_of(tmp_path, lines)
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: 2 test row(s) have exact duplicates among the "
                                                         "train and validation rows (")


def test_validation_and_test_must_not_name_the_same_split(tmp_path):
    write(tmp_path / "train.tsv", rows("tr", 20))
    write(tmp_path / "dev.tsv", rows("d", 4))
    with pytest.raises(CompressError, match="must not be the one reported"):
        roles_of(tmp_path, validation_split="dev", test_split="dev")


def test_unset_data_settings_come_from_the_model_lineage(tmp_path):
    parent, child = tmp_path / "teacher", tmp_path / "student"
    parent.mkdir(), child.mkdir()
    (parent / "manifest.json").write_text(json.dumps({"settings": {"data": "rte", "split_seed": 7, "metric": "mcc",
                                                                   "whole_rows": True}}))
    (child / "manifest.json").write_text(json.dumps({"settings": {"data": None, "validation_fraction": 0.2},
                                                     "inputs": {"model": {"path": str(parent)}}}))
    resolved = resolve_data(DataConfig(), child)
    assert (resolved.data, resolved.split_seed, resolved.metric, resolved.validation_fraction) == ("rte", 7, "mcc", 0.2)
    assert resolve_data(DataConfig(data="sst2"), child).data == "sst2", "what the user sets wins"
    assert resolved.whole_rows is True, "a student validates on the rows its teacher was chosen on"
    assert resolve_data(DataConfig(), None).data == "sst2" and resolve_data(DataConfig(), None).whole_rows is False


def test_sst2_roles_keep_the_dev_sentences_for_test_and_never_touch_them_for_validation(data_dir):
    roles = roles_of("sst2", max_train_examples=50, max_eval_examples=20)
    assert (len(roles.train), len(roles.validation), len(roles.test)) == (50, 20, 20)
    assert all(i.startswith("dev.tsv#") for i in roles.test.ids)
    assert all(i.startswith("train.tsv#") for i in roles.validation.ids)
    no_overlap(roles)
    assert roles.labels.id2label == {0: "negative", 1: "positive"}


def test_a_stage_without_data_reads_what_its_input_model_was_trained_on(tiny_bert, tmp_path):
    """A sentence-pair model exported without --data: the parity check reads its pairs, not SST-2."""
    from compress.stages.export import ExportConfig, export
    from compress.stages.finetune import FinetuneConfig, finetune

    pairs = write(tmp_path / "pairs.tsv", [(f"a man {i}\ta person {i}", str(i % 2)) for i in range(60)],
                  header="sentence1\tsentence2\tlabel")
    finetune(FinetuneConfig(model=str(tiny_bert), data=str(pairs), max_steps=1, batch_size=8, max_length=16),
             tmp_path / "teacher")
    export(ExportConfig(model=str(tmp_path / "teacher"), max_eval_examples=4, parity_batch_sizes=[1]),
           tmp_path / "onnx")
    teacher = json.loads((tmp_path / "teacher" / "manifest.json").read_text())
    exported = json.loads((tmp_path / "onnx" / "manifest.json").read_text())
    assert exported["settings"]["data"] == str(pairs)
    assert exported["data_roles"]["resolution"].startswith(f"data {pairs}: ")
    assert exported["data_roles"]["resolution"].split(";")[0] == teacher["data_roles"]["resolution"].split(";")[0]
    assert exported["data_roles"]["validation"]["origin"].startswith(teacher["data_roles"]["validation"]["origin"])
