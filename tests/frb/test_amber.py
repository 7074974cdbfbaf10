"""AMBER candidate files: every column form, the corpus, growing files cut into chunks, any bytes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frb_synthetic import Burst, amber_text, synthetic_candidates
from skyspool.frb.amber import AmberFormatError, make_chunk, read_candidates, read_new_lines

FORMS = {
    7: "beam_id batch_id sample_id integration_step time DM SNR",
    8: "beam_id batch_id sample_id integration_step time DM_id DM SNR",
    9: "beam_id batch_id sample_id integration_step compacted_integration_steps time DM compacted_DMs SNR",
    10: "beam_id batch_id sample_id integration_step compacted_integration_steps time DM_id DM compacted_DMs SNR",
}


def _data_lines(path):
    return [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("name", ["CB00_step1.trigger", "CB00_step2.trigger", "CB00_step3.trigger"])
def test_every_corpus_candidate_is_read(amber_dir, name):
    lines = _data_lines(amber_dir / name)
    frame = read_candidates(amber_dir / name)
    assert len(frame) == len(lines)
    if lines:  # the last column is the S/N, the 8th the DM (10-column form)
        assert np.allclose(frame["snr"], [float(line.split()[9]) for line in lines])
        assert np.allclose(frame["dm"], [float(line.split()[7]) for line in lines])
        assert np.array_equal(frame["width"], [int(line.split()[3]) for line in lines])
    assert (frame["cb"] == 0).all()


@pytest.mark.parametrize("ncol", sorted(FORMS))
def test_columns_are_read_by_name_in_every_form(ncol):
    names = FORMS[ncol].split()
    values = {"beam_id": 3, "batch_id": 1, "sample_id": 7, "integration_step": 16, "compacted_integration_steps": 2,
              "time": 1.5, "DM_id": 40, "DM": 512.25, "compacted_DMs": 5, "SNR": 13.5}
    text = f"# {' '.join(names)}\n" + " ".join(str(values[n]) for n in names) + "\n"
    row = read_candidates(text.encode(), compound_beam=7).iloc[0]
    assert (row["cb"], row["beam"], row["time"], row["dm"], row["snr"], row["width"]) == (7, 3, 1.5, 512.25, 13.5, 16)


@pytest.mark.parametrize("text, reason", [
    (b"1 2 3 4\n", "no AMBER header"),
    (b"# integration_step time DM SNR\n1 2 3\n", "fields"),
    (b"# integration_step time DM SNR\n1 2 3 4 5\n", "fields"),
    (b"# integration_step time DM SNR\n1 2 3 x\n", "unreadable"),
    (b"# integration_step time DM SNR\n1 2 nan 4\n", "NaN"),
    (b"# integration_step time DM SNR\n1 -2 3 4\n", "negative"),
    (b"# integration_step time DM SNR\n0 2 3 4\n", "width"),
    (b"# integration_step time DM SNR\n1.5 2 3 4\n", "width"),
    (b"# integration_step time DM SNR\n3000000000 2 3 4\n", "width"),  # beyond int32
    (b"# integration_step time DM SNR\n1 2 3 4\n1 2 3 4\xff", "ASCII"),  # on a last line without newline
    (b"# integration_step time DM SNR\n1 2 3 4\n1 2 3", "missing"),  # a short last line
    (b"# integration_step time DM SNR\n1 2 3 4\xff\n", "ASCII"),
    (b"# integration_step time DM DM SNR\n1 2 3 4 5\n", "repeats"),
])
def test_invalid_candidates_are_refused_with_a_reason(text, reason):
    with pytest.raises(AmberFormatError, match=reason):
        read_candidates(text)


def test_growing_file_is_cut_into_chunks_without_losing_or_splitting_a_line(tmp_path):
    frame = synthetic_candidates([Burst(30.0, 400.0, 20.0)], duration_s=60, n_noise=300, n_rfi=1)
    text = amber_text(frame)
    path = tmp_path / "CB05_step1.trigger"
    path.write_bytes(b"")
    offset, chunks = 0, []
    rng = np.random.default_rng(1)
    written = 0
    while written < len(text):  # appends of random size, usually ending mid-line
        step = int(rng.integers(1, 4000))
        with open(path, "ab") as handle:
            handle.write(text[written:written + step])
        written += step
        chunk, offset = make_chunk(path, offset)
        if chunk:
            assert chunk.endswith(b"\n")
            chunks.append(chunk)
    assert offset == len(text)
    assert len(chunks) > 5
    parts = [read_candidates(c) for c in chunks]
    assert all((p["cb"] == 5).all() for p in parts)
    assert sum(len(p) for p in parts) == len(frame)
    whole = read_candidates(path)
    assert np.array_equal(np.concatenate([p["snr"] for p in parts]), whole["snr"])


def test_read_new_lines_keeps_a_partial_line_and_notices_a_shrunk_file(tmp_path):
    path = tmp_path / "CB00_step1.trigger"
    path.write_bytes(b"# integration_step time DM SNR\n1 2 3 4\n1 2 3")
    data, offset = read_new_lines(path, 0)
    assert data.endswith(b"1 2 3 4\n") and offset == len(data)
    assert read_new_lines(path, offset) == (b"", offset)
    path.write_bytes(b"")
    with pytest.raises(AmberFormatError, match="shrank"):
        read_new_lines(path, offset)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 st.binary(max_size=200).map(lambda b: b"# integration_step time DM SNR\n" + b),
                 st.lists(st.sampled_from([b"1", b"2.5", b"-1", b"nan", b"x", b" ", b"  ", b"\t", b"\n", b"#", b"1e3"]),
                          max_size=40).map(lambda parts: b"# beam_id integration_step time DM SNR\n" + b"".join(parts))))
def test_any_bytes_give_a_valid_parse_or_a_clean_refusal(data):
    try:
        frame = read_candidates(data)
    except AmberFormatError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert list(frame.columns) == ["cb", "beam", "time", "dm", "snr", "width"]
    assert np.isfinite(frame[["time", "dm", "snr"]].to_numpy()).all()
    assert (frame["time"] >= 0).all() and (frame["dm"] >= 0).all() and (frame["width"] >= 1).all()


def _tokens(text: bytes, column: int) -> list[float]:
    return [float(line.split()[column]) for line in text.splitlines() if line.strip() and not line.startswith(b"#")]


@pytest.mark.parametrize("name", ["CB00_step1.trigger", "CB00_step3.trigger"])
def test_compiled_reader_gives_the_correctly_rounded_values(amber_dir, name):
    """The one-pass reader's numbers are Python's float() of each field, bit for bit."""
    text = (amber_dir / name).read_bytes()
    frame = read_candidates(text)
    for column, field in (("time", 5), ("dm", 7), ("snr", 9)):
        assert frame[column].tolist() == _tokens(text, field)
    synthetic = amber_text(synthetic_candidates([Burst(5.0, 300.0, 20.0)], duration_s=20, n_noise=3000))
    frame = read_candidates(synthetic)
    assert frame["time"].tolist() == _tokens(synthetic, 5) and frame["snr"].tolist() == _tokens(synthetic, 9)


@pytest.mark.parametrize("value, expected", [
    ("1.5e-3", 1.5e-3), ("2E2", 200.0), ("0.1000000000000001", 0.1000000000000001),  # 16 digits: pandas
    ("12345678901234567890", 12345678901234567890.0), ("7.", 7.0), (".25", 0.25)])
def test_other_number_forms_are_read_alike(value, expected):
    text = f"# integration_step time DM SNR\n1 {value} 10 12\n".encode()
    assert read_candidates(text)["time"].tolist() == [expected]
    spaced = f"# integration_step time DM SNR\n1\t{value}  10 12 \n".encode()  # pandas' whitespace path
    assert read_candidates(spaced)["time"].tolist() == [expected]


@pytest.mark.parametrize("tail, reason", [(b"# caf\xc3\xa9\n", "must be ASCII"), (b"1 2 3 4\r\n", "carriage-return"),
                                          (b"# a\x00b\n", "NUL")])
def test_bad_bytes_past_the_first_64_kib_are_refused_from_a_file(tmp_path, tail, reason):
    path = tmp_path / "CB01_step1.trigger"
    path.write_bytes(b"# integration_step time DM SNR\n" + b"1 2.5 100.0 12.0\n" * 5000 + tail)
    with pytest.raises(AmberFormatError, match=reason):
        read_candidates(path)
    path.write_bytes(b"# integration_step time DM SNR\n" + b"1 2.5 100.0 12.0\n" * 5000)
    frame = read_candidates(path)  # mapped, read in place
    assert len(frame) == 5000 and (frame["cb"] == 1).all() and frame["dm"].tolist() == [100.0] * 5000
    path.write_bytes(b"# integration_step time DM SNR\n" + b"1 2.5 100.0 12.0\n" * 5000 + b"2 3.5 0.125 9.5")
    frame = read_candidates(path)  # the last line has no newline: read from a copy that has one
    assert len(frame) == 5001 and frame.iloc[-1].tolist() == [1, 0, 3.5, 0.125, 9.5, 2]
    path.write_bytes(b"")
    assert read_candidates(path).empty
