"""Hostile and malformed files (issue 29, item 2): every loader a user feeds files to, fuzzed with hypothesis.

Each input must either load or end in a clear error (a ValueError or FileNotFoundError, which the CLI prints
as one line) whose message names the file: never another exception from deep inside, an unbounded
allocation or a hang. EXAMPLES holds how many inputs each loader is tried with (per test; the total is
printed at the end of the module); reading FASTA and text is checked to be bounded in memory.
"""

import gzip
import json
import struct
import tracemalloc

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from titans.config import TitansConfig
from titans.data.corpus import load_documents
from titans.data.fasta import iter_fasta_pieces, read_fasta
from titans.data.tokenizers import ByteTokenizer, load_tokenizer
from titans.forecast.csvfile import read_ltsf_csv
from titans.models import TitansLM
from titans.train.config import TrainConfig

# inputs tried per loader and strategy (hypothesis max_examples)
EXAMPLES = {"text": 120, "fasta": 150, "csv": 150, "toml": 100, "yaml": 100, "config fields": 100,
            "config.json": 60, "safetensors weights": 60, "saved state": 60, "tokenizer": 80}
TRIED: dict[str, int] = {}

FUZZ = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


def fuzz(name):
    return settings(max_examples=EXAMPLES[name], **FUZZ)


def expect_clear(load, path, name):
    """Run ``load()``; any failure must be a user error naming ``path`` (its name at least)."""
    TRIED[name] = TRIED.get(name, 0) + 1
    try:
        load()
    except (ValueError, FileNotFoundError) as error:
        assert path.name in str(error), f"{type(error).__name__} does not name {path.name}: {error}"


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    print("\nhostile inputs tried per loader: " + ", ".join(f"{k} {v}" for k, v in TRIED.items()))


def _gzip_damaged(data: bytes) -> bytes:
    packed = gzip.compress(data)
    return packed[: max(2, len(packed) // 2)]


blobs = st.one_of(st.binary(max_size=3000), st.binary(max_size=200).map(_gzip_damaged),
                  st.text(max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass")))


# ---- text corpora ----

@fuzz("text")
@given(data=blobs, suffix=st.sampled_from([".txt", ".gz", ".bz2", ".xml"]))
def test_text_corpora(tmp_path, data, suffix):
    path = tmp_path / f"corpus{suffix}"
    path.write_bytes(data)
    expect_clear(lambda: load_documents(path), path, "text")


# ---- FASTA ----

fasta_lines = st.lists(st.sampled_from([b">r1", b">r2 described", b">", b"> ", b">r1", b"ACGT", b"acgtnRYKM", b"",
                                        b"  ", b"AC GT\t", b"ACGU", b"12-*", b"\x00\xff", b"\r", b"N" * 500]),
                       max_size=30)


@fuzz("fasta")
@given(lines=fasta_lines, ending=st.sampled_from([b"\n", b"\r\n"]), noise=st.binary(max_size=40),
       compress=st.sampled_from(["none", "gzip", "damaged gzip"]))
def test_fasta(tmp_path, lines, ending, noise, compress):
    data = ending.join(lines) + noise
    path = tmp_path / "genome.fa"
    path.write_bytes({"none": data, "gzip": gzip.compress(data), "damaged gzip": _gzip_damaged(data)}[compress])
    expect_clear(lambda: read_fasta(path), path, "fasta")
    expect_clear(lambda: load_documents(path), path, "fasta")


# ---- the forecasting CSV ----

cells = st.one_of(st.sampled_from(["1.5", "-2", "", "nan", "inf", "1e400", "x", "NA", "2020-01-01 00:00:00", "\x00",
                                   "a" * 200_000]), st.text(max_size=8))


@fuzz("csv")
@given(header=st.lists(st.sampled_from(["date", "OT", "HUFL", "date", "", " OT "]), max_size=5),
       rows=st.lists(st.lists(cells, max_size=5), max_size=6), raw=st.one_of(st.none(), st.binary(max_size=500)))
def test_forecast_csv(tmp_path, header, rows, raw):
    path = tmp_path / "ETTh1.csv"
    if raw is None:
        path.write_text("\n".join(",".join(r) for r in [header, *rows]), encoding="utf-8", errors="surrogatepass")
    else:
        path.write_bytes(raw)
    expect_clear(lambda: read_ltsf_csv(path), path, "csv")


# ---- run configs ----

values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(),
                                st.text(max_size=10)),
                      lambda inner: st.one_of(st.lists(inner, max_size=3),
                                              st.dictionaries(st.text(max_size=5), inner, max_size=3)), max_leaves=6)
field_names = st.sampled_from(["preset", "variant", "context", "steps", "lr", "betas", "model", "carry_state",
                               "valid_fraction", "data", "tokenizer", "unknown_field"])


@fuzz("toml")
@given(text=st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1"))))
def test_toml_config(tmp_path, text):
    path = tmp_path / "run.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    expect_clear(lambda: TrainConfig.from_file(path), path, "toml")


@fuzz("yaml")
@given(raw=st.binary(max_size=300), text=st.text(max_size=200))
def test_yaml_config(tmp_path, raw, text):
    path = tmp_path / "run.yaml"
    path.write_bytes(raw)
    expect_clear(lambda: TrainConfig.from_file(path), path, "yaml")
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    expect_clear(lambda: TrainConfig.from_file(path), path, "yaml")


@fuzz("config fields")
@given(fields=st.dictionaries(field_names, values, max_size=4))
def test_config_fields_of_any_type(tmp_path, fields):
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps(fields, default=str))  # JSON is YAML
    expect_clear(lambda: TrainConfig.from_file(path), path, "config fields")


# ---- weights, config.json and saved states ----

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny saved model and one of its states, written once; each example works on copies."""
    folder = tmp_path_factory.mktemp("saved")
    torch.manual_seed(0)
    model = TitansLM(TitansConfig.from_name("tiny", variant="mag", vocab_size=256))
    model.save_pretrained(folder / "model")
    _, state = model(torch.randint(0, 256, (1, 12)))
    model.save_state(state, folder / "state.safetensors")
    other = TitansLM(TitansConfig.from_name("tiny", variant="mag", vocab_size=256, dim=48))
    other.save_pretrained(folder / "other")
    return folder, model


def _copy_model(saved, tmp_path):
    source, target = saved[0] / "model", tmp_path / "model"
    target.mkdir(exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        (target / name).write_bytes((source / name).read_bytes())
    return target


def _header_claiming(size: int) -> bytes:
    return struct.pack("<Q", size) + b'{"__metadata__":{}}'


def _mutate(data: bytes, how: str, position: int, byte: int) -> bytes:
    if how == "truncate":
        return data[: position % max(1, len(data))]
    if how == "flip":
        i = position % len(data)
        return data[:i] + bytes([byte]) + data[i + 1:]
    if how == "gigabytes":
        return struct.pack("<Q", 2**31 + position) + data[8:]
    if how == "header":  # a byte changed inside the JSON header
        length = struct.unpack("<Q", data[:8])[0]
        i = 8 + position % length
        return data[:i] + bytes([byte]) + data[i + 1:]
    return data


damage = st.sampled_from(["truncate", "flip", "gigabytes", "header", "none"])


@fuzz("config.json")
@given(field=st.sampled_from(sorted(TitansConfig.__dataclass_fields__)), value=values,
       raw=st.one_of(st.none(), st.binary(max_size=200)))
def test_config_json(saved, tmp_path, field, value, raw):
    folder = _copy_model(saved, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config[field] = value
    path = folder / "config.json"
    if raw is None:
        path.write_text(json.dumps(config, default=str))
    else:
        path.write_bytes(raw)
    expect_clear(lambda: TitansLM.from_pretrained(folder), path.parent, "config.json")


@fuzz("safetensors weights")
@given(how=damage, position=st.integers(0, 10**6), byte=st.integers(0, 255),
       swap=st.sampled_from(["none", "other model", "nan", "gigabytes header"]))
def test_safetensors_weights(saved, tmp_path, how, position, byte, swap):
    folder = _copy_model(saved, tmp_path)
    path = folder / "model.safetensors"
    if swap == "other model":
        path.write_bytes((saved[0] / "other" / "model.safetensors").read_bytes())
    elif swap == "nan":
        weights = {k: v.clone() for k, v in saved[1].state_dict().items()}
        weights["embed.weight"][position % 256, 0] = float("nan")
        save_file(weights, str(path))
    elif swap == "gigabytes header":
        path.write_bytes(_header_claiming(2**40))
    path.write_bytes(_mutate(path.read_bytes(), how, position, byte))
    expect_clear(lambda: TitansLM.from_pretrained(folder), folder, "safetensors weights")


def test_non_finite_and_foreign_weights_are_refused_by_name(saved, tmp_path):
    folder = _copy_model(saved, tmp_path)
    (folder / "model.safetensors").write_bytes((saved[0] / "other" / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match="does not hold the weights"):
        TitansLM.from_pretrained(folder)
    weights = {k: v.clone() for k, v in saved[1].state_dict().items()}
    weights["head.weight" if "head.weight" in weights else "embed.weight"][0, 0] = float("inf")
    save_file(weights, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match="non-finite"):
        TitansLM.from_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "layers": 10**9}))  # no allocation, no hang
    with pytest.raises(ValueError, match="layers"):
        TitansLM.from_pretrained(folder)


@fuzz("saved state")
@given(how=damage, position=st.integers(0, 10**6), byte=st.integers(0, 255),
       swap=st.sampled_from(["none", "other model", "nan", "structure", "gigabytes header"]),
       structure=st.text(max_size=40))
def test_saved_state(saved, tmp_path, how, position, byte, swap, structure):
    folder, model = saved
    path = tmp_path / "state.safetensors"
    data = (folder / "state.safetensors").read_bytes()
    if swap == "other model":
        data = (folder / "other" / "model.safetensors").read_bytes()
    elif swap in ("nan", "structure"):
        from safetensors import safe_open

        with safe_open(str(folder / "state.safetensors"), framework="pt") as f:
            header, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
        if swap == "nan":
            key = sorted(k for k in tensors if tensors[k].is_floating_point())[position % 3]
            tensors[key].view(-1)[0] = float("nan")
        else:
            header["structure"] = structure
        save_file(tensors, str(path), metadata=header)
        data = path.read_bytes()
    elif swap == "gigabytes header":
        data = _header_claiming(2**40)
    path.write_bytes(_mutate(data, how, position, byte))
    expect_clear(lambda: model.load_state(path), path, "saved state")


# ---- tokenizer files ----

@fuzz("tokenizer")
@given(config=st.one_of(values, st.fixed_dictionaries({"kind": st.sampled_from(["bytes", "sentencepiece",
                                                                                 "nucleotides", "other"])},
                                                       optional={"vocab_size": values, "model_file": values,
                                                                 "masked": values, "name": values})),
       raw=st.one_of(st.none(), st.binary(max_size=200)), model=st.binary(max_size=300))
def test_tokenizer_files(tmp_path, config, raw, model):
    folder = tmp_path / "tokenizer"
    folder.mkdir(exist_ok=True)
    path = folder / "tokenizer.json"
    if raw is None:
        path.write_text(json.dumps(config, default=str))
    else:
        path.write_bytes(raw)
    (folder / "tokenizer.model").write_bytes(model)
    expect_clear(lambda: load_tokenizer(folder), folder, "tokenizer")


def test_a_saved_byte_tokenizer_still_loads(tmp_path):
    ByteTokenizer().save(tmp_path)
    assert load_tokenizer(tmp_path).vocab_size == 256


# ---- reading is bounded in memory ----

SIZE = 24 << 20  # 24 MB: large against the bounds asserted, small enough for the test machine


def _peak(read) -> int:
    tracemalloc.start()
    try:
        read()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_single_line_fasta_streams_in_bounded_memory(tmp_path):
    path = tmp_path / "one-line.fa"
    with open(path, "wb") as f:
        f.write(b">chr1 one line\n")
        for _ in range(SIZE >> 20):
            f.write(b"ACGTN" * ((1 << 20) // 5) + b"ACGT")
    count = 0

    def stream():
        nonlocal count
        for _, piece in iter_fasta_pieces(path, piece_size=1 << 20):
            count += len(piece)

    peak = _peak(stream)
    assert count > 20 << 20
    assert peak < 8 << 20, f"streaming a {SIZE >> 20} MB one-line FASTA held {peak / 2**20:.1f} MiB"


def test_a_text_without_newlines_is_read_with_one_copy(tmp_path):
    path = tmp_path / "one-line.txt"
    path.write_bytes(b"the memory reads " * (SIZE // 17))
    size = path.stat().st_size
    peak = _peak(lambda: load_documents(path))
    assert peak < 2.3 * size, f"reading a {size >> 20} MB text held {peak / size:.2f}x its size"
