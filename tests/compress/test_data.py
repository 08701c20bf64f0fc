"""compress.core.data: every reader, column and label handling, the named dataset, and clear errors on bad input."""

import json
import os

import pytest

from compress.core.data import Columns, LabelledText, LabelSpace, load_split
from compress.core.errors import CompressError


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# Readers

def test_tsv_is_read_unquoted_so_a_double_quote_stays_inside_its_row(tmp_path):
    # A quoting reader would open a quoted field at the first '"' and swallow the following rows.
    file = write(tmp_path / "d.tsv", 'sentence\tlabel\n" opens a quote \t1\nnext row \t0\n"quoted" start\t1\n')
    data = load_split(file)
    assert data.texts == ['" opens a quote ', "next row ", '"quoted" start']
    assert data.labels == ["1", "0", "1"]
    assert data.pairs is None


def test_tsv_keeps_the_trailing_space_of_glue_sentences(tmp_path):
    data = load_split(write(tmp_path / "d.tsv", "sentence\tlabel\nhide new secretions \t0\n"))
    assert data.texts == ["hide new secretions "]


def test_tsv_skips_blank_lines(tmp_path):
    data = load_split(write(tmp_path / "d.tsv", "sentence\tlabel\na\t0\n\nb\t1\n"))
    assert data.texts == ["a", "b"]


def test_csv_is_read_with_quoting_so_commas_and_quotes_inside_fields_survive(tmp_path):
    file = write(tmp_path / "d.csv", 'text,label\n"fine, really",1\n"she said ""no""",0\nplain,1\n')
    data = load_split(file)
    assert data.texts == ["fine, really", 'she said "no"', "plain"]
    assert data.labels == ["1", "0", "1"]


def test_jsonl_rows_are_objects_with_integer_labels_read_as_strings(tmp_path):
    rows = [{"text": "good", "label": 1}, {"text": "bad", "label": 0}]
    data = load_split(write(tmp_path / "d.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n"))
    assert data.texts == ["good", "bad"]
    assert data.labels == ["1", "0"]


def test_saved_hf_dataset_is_read(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"sentence": ["a", "b", "c"], "label": [0, 1, 1]}).save_to_disk(tmp_path / "ds")
    data = load_split(tmp_path / "ds")
    assert data.texts == ["a", "b", "c"]
    assert data.labels == ["0", "1", "1"]


def test_saved_hf_dataset_dict_picks_the_split_and_takes_classlabel_names(tmp_path):
    import datasets

    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})
    datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"sentence": ["t1", "t2"], "label": [0, 1]}, features=features),
        "validation": datasets.Dataset.from_dict({"sentence": ["v1"], "label": [1]}, features=features),
    }).save_to_disk(tmp_path / "dd")
    train, dev = load_split(tmp_path / "dd", "train"), load_split(tmp_path / "dd", "dev")
    space = LabelSpace.from_data(train)
    assert train.texts == ["t1", "t2"]
    assert dev.texts == ["v1"], "dev must resolve to the validation split"
    assert dev.names == {"0": "negative", "1": "positive"}
    assert space.names == ("negative", "positive")
    assert space.encode(dev) == [1]


def test_saved_hf_dataset_dict_without_the_split_names_the_splits_it_has(tmp_path):
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"sentence": ["a"], "label": [0]})}).save_to_disk(
        tmp_path / "dd")
    with pytest.raises(CompressError, match=r"no 'test' split \(it has: train\)"):
        load_split(tmp_path / "dd", "test")


def test_directory_of_split_files_accepts_validation_for_dev(tmp_path):
    write(tmp_path / "train.tsv", "sentence\tlabel\ntrain row\t0\nother\t1\n")
    write(tmp_path / "validation.tsv", "sentence\tlabel\nvalidation row\t1\n")
    train, dev = load_split(tmp_path, "train"), load_split(tmp_path, "dev")
    assert train.texts == ["train row", "other"]
    assert dev.texts == ["validation row"]


def test_directory_of_split_files_mixes_formats(tmp_path):
    write(tmp_path / "train.csv", "text,label\na,x\nb,y\n")
    write(tmp_path / "dev.jsonl", json.dumps({"text": "c", "label": "y"}) + "\n")
    train, dev = load_split(tmp_path, "train"), load_split(tmp_path, "dev")
    assert (train.texts, dev.texts) == (["a", "b"], ["c"])


def test_directory_without_the_split_says_what_it_looked_for(tmp_path):
    write(tmp_path / "train.tsv", "sentence\tlabel\na\t0\n")
    with pytest.raises(CompressError, match="no dev split"):
        load_split(tmp_path, "dev")


# Columns and pairs

def test_sentence1_and_sentence2_are_detected_as_a_pair(tmp_path):
    file = write(tmp_path / "d.tsv", "sentence1\tsentence2\tlabel\nA man sleeps.\tA person rests.\t1\n")
    data = load_split(file)
    assert data.texts == ["A man sleeps."]
    assert data.pairs == ["A person rests."]


def test_question_and_sentence_are_detected_as_a_pair(tmp_path):
    # QNLI's layout; PAIR_COLUMNS maps question -> sentence.
    file = write(tmp_path / "d.tsv", "question\tsentence\tlabel\nWho wrote it?\tShe wrote it.\tentailment\n")
    data = load_split(file)
    assert data.texts == ["Who wrote it?"]
    assert data.pairs == ["She wrote it."]


def test_explicit_text_pair_column_is_used(tmp_path):
    file = write(tmp_path / "d.tsv", "claim\tevidence\ty\nsky is green\tsky is blue\t0\n")
    data = load_split(file, columns=Columns(text="claim", text_pair="evidence", label="y"))
    assert data.texts == ["sky is green"]
    assert data.pairs == ["sky is blue"]
    assert data.labels == ["0"]


def test_explicit_text_column_turns_off_pair_detection(tmp_path):
    file = write(tmp_path / "d.tsv", "sentence1\tsentence2\tlabel\nfirst\tsecond\t1\n")
    data = load_split(file, columns=Columns(text="sentence2"))
    assert data.texts == ["second"]
    assert data.pairs is None


@pytest.mark.parametrize("text, label", [("text", "labels"), ("text_a", "label_id"), ("sentence", "class")])
def test_text_and_label_columns_are_detected_by_common_names(tmp_path, text, label):
    file = write(tmp_path / "d.tsv", f"id\t{text}\t{label}\n7\thello\t1\n")
    data = load_split(file)
    assert data.texts == ["hello"]
    assert data.labels == ["1"]


def test_explicit_text_and_label_columns_override_detection(tmp_path):
    file = write(tmp_path / "d.tsv", "sentence\tlabel\treview\tstars\nignored\t0\tused\t5\n")
    data = load_split(file, columns=Columns(text="review", label="stars"))
    assert data.texts == ["used"]
    assert data.labels == ["5"]


def test_unknown_explicit_column_lists_the_available_columns(tmp_path):
    file = write(tmp_path / "d.tsv", "sentence\tlabel\na\t0\n")
    with pytest.raises(CompressError, match=r"no text column 'review' \(columns: sentence, label\)"):
        load_split(file, columns=Columns(text="review"))
    with pytest.raises(CompressError, match=r"no text pair column 'hyp' \(columns: sentence, label\)"):
        load_split(file, columns=Columns(text_pair="hyp"))


def test_undetectable_label_column_says_which_option_names_it(tmp_path):
    file = write(tmp_path / "d.tsv", "sentence\tsentiment\na\tpos\n")
    with pytest.raises(CompressError,
                       match=r"cannot find a label column \(columns: sentence, sentiment\).*--label-column"):
        load_split(file)


def test_row_without_a_label_is_refused_with_its_row_number(tmp_path):
    file = write(tmp_path / "d.tsv", "sentence\tlabel\na\t0\nb\t \n")
    with pytest.raises(CompressError, match="row 2 has no label"):
        load_split(file)


# Labels

def test_multiclass_string_labels_get_sorted_ids_and_encode(tmp_path):
    write(tmp_path / "train.tsv", "sentence\tlabel\na\tneutral\nb\tcontradiction\nc\tentailment\nd\tneutral\n")
    write(tmp_path / "dev.tsv", "sentence\tlabel\ne\tentailment\nf\tcontradiction\n")
    train, dev = load_split(tmp_path, "train"), load_split(tmp_path, "dev")
    space = LabelSpace.from_data(train)
    assert space.names == ("contradiction", "entailment", "neutral")
    assert space.encode(train) == [2, 0, 1, 2]
    assert space.encode(dev) == [1, 0]


def test_numeric_labels_sort_by_value_not_as_text(tmp_path):
    data = load_split(write(tmp_path / "d.tsv", "sentence\tlabel\na\t10\nb\t2\nc\t1\n"))
    assert LabelSpace.from_data(data).raw == ("1", "2", "10")


def test_label_space_id2label_and_label2id_are_inverse():
    space = LabelSpace(("0", "1"), ("negative", "positive"))
    assert space.id2label == {0: "negative", 1: "positive"}
    assert space.label2id == {"negative": 0, "positive": 1}


def test_encode_matches_display_names_raw_values_and_generic_label_ids():
    by_name = LabelSpace(("0", "1"), ("negative", "positive"))
    assert by_name.encode(LabelledText(["x", "y"], None, ["positive", "negative"])) == [1, 0]
    assert by_name.encode(LabelledText(["x", "y"], None, ["1", "0"])) == [1, 0]
    generic = LabelSpace.from_id2label({"0": "LABEL_0", "1": "LABEL_1"})
    assert generic.encode(LabelledText(["x"], None, ["1"])) == [1]


def test_unnamed_integer_labels_are_class_ids_of_a_named_model():
    model = LabelSpace.from_id2label({"0": "negative", "1": "positive"})
    assert model.encode(LabelledText(["x", "y"], None, ["1", "0"])) == [1, 0]
    with pytest.raises(CompressError, match="label '2'"):
        model.encode(LabelledText(["x"], None, ["2"]))


def test_encode_refuses_a_label_outside_the_space_and_names_it():
    space = LabelSpace(("0", "1"), ("negative", "positive"))
    with pytest.raises(CompressError, match=r"label 'neutral' .* not one of the model's labels \(negative, positive\)"):
        space.encode(LabelledText(["x"], None, ["neutral"], origin="dev.tsv"))


# Sampling

def test_sample_is_seeded_deterministic_and_keeps_rows_aligned():
    data = LabelledText([f"t{i}" for i in range(100)], [f"p{i}" for i in range(100)], [str(i % 3) for i in range(100)])
    a, b, other = data.sample(10, seed=1), data.sample(10, seed=1), data.sample(10, seed=2)
    assert a.texts == b.texts
    assert a.texts != other.texts
    assert len(a) == 10 and len(set(a.texts)) == 10
    for text, pair, label in zip(a.texts, a.pairs, a.labels):
        i = int(text[1:])
        assert pair == f"p{i}" and label == str(i % 3)


def test_sample_of_none_or_more_than_all_rows_returns_everything():
    data = LabelledText(["a", "b"], None, ["0", "1"])
    assert data.sample(None).texts == ["a", "b"]
    assert data.sample(5).texts == ["a", "b"]


# The named dataset

def test_sst2_resolves_to_the_local_copy_with_named_labels(data_dir):
    dev = load_split("sst2", "dev")
    assert dev.origin == os.path.relpath(data_dir / "sst2" / "dev.tsv"), "recorded relative to the working directory"
    assert len(dev) == 872
    assert set(dev.labels) == {"0", "1"}
    assert dev.labels.count("0") == 428
    assert dev.names == {"0": "negative", "1": "positive"}
    assert LabelSpace.from_data(dev).names == ("negative", "positive")


# Byte-order marks and line ends

BOM_ROWS = {".tsv": "sentence\tlabel{nl}a good film\t1{nl}a bad one\t0{nl}",
            ".csv": "sentence,label{nl}\"a good, film\",1{nl}a bad one,0{nl}",
            ".jsonl": '{{"sentence": "a good film", "label": 1}}{nl}{{"sentence": "a bad one", "label": 0}}{nl}'}


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("suffix", sorted(BOM_ROWS))
def test_a_utf8_byte_order_mark_before_the_header_is_ignored_with_either_line_end(tmp_path, suffix, newline):
    file = tmp_path / f"train{suffix}"
    file.write_bytes(b"\xef\xbb\xbf" + BOM_ROWS[suffix].format(nl=newline).encode())
    data = load_split(file)
    assert data.texts == ["a good, film" if suffix == ".csv" else "a good film", "a bad one"]
    assert data.labels == ["1", "0"]


def test_a_byte_order_mark_in_a_split_folder_is_ignored_too(tmp_path):
    (tmp_path / "train.tsv").write_bytes(b"\xef\xbb\xbfsentence\tlabel\r\nfine\t1\r\nawful\t0\r\n")
    assert load_split(tmp_path, "train").texts == ["fine", "awful"]

