"""One source of configuration: the schema's defaults, descriptions and units; the files generated
from it; the typed settings; the renamed keys."""

import dataclasses
import logging
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from skyspool import cli, config, settings
from skyspool.paths import Spool

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
CONFIG_YAML = ROOT / "config" / "config.yaml"
CONFIG_README = ROOT / "config" / "README.md"
SETTINGS_PY = ROOT / "src" / "skyspool" / "settings.py"

# Keys without a default, on purpose: the spool is given on the command line; the e-mail settings
# exist only when frb.email is set (the code's defaults apply to the keys left out); a threshold's
# and a sink's required keys are given with each one.
NO_DEFAULT = {"spool", "frb.email.host", "frb.email.port", "frb.email.sender", "frb.email.to",
              "frb.email.starttls", "frb.email.username", "frb.email.password_env",
              "frb.email.timeout_s"}


def _walk(node, prefix=""):
    """(dotted key, node) of every property below ``node``, $defs included."""
    for name, child in node.get("properties", {}).items():
        yield prefix + name, child
        yield from _walk(child, f"{prefix}{name}.")


def _schema():
    return yaml.safe_load(SCHEMA.read_text())


def _every_key():
    doc = _schema()
    yield from _walk(doc)
    for name, node in doc["$defs"].items():
        yield from _walk(node, f"$defs.{name}.")


def test_every_key_has_a_description_and_every_number_a_unit():
    assert [key for key, node in _every_key() if not node.get("description")] == []
    numbers = [(key, node) for key, node in _every_key()
               if {"number", "integer"} & set(node.get("type", []) if isinstance(node.get("type"), list)
                                               else [node.get("type")])]
    assert len(numbers) > 60
    assert [key for key, node in numbers if not node.get("unit")] == []
    units = {key: node["unit"] for key, node in numbers}
    assert units["max_input_bytes"] == "bytes"
    assert units["gwcand.bayestar.f_low_hz"] == "Hz"
    assert units["frb.clustering.dm_scale"] == "pc cm^-3"
    assert units["$defs.threshold.significant_far_hz"] == "Hz"


def test_every_key_of_today_has_its_default_in_the_schema():
    doc = _schema()
    no_default = [key for key, node in _walk(doc) if "default" not in node and key not in NO_DEFAULT
                  and not key.startswith("coincidence.targeted_far_thresholds_hz.")
                  and not key.startswith("coincidence.publish.")]
    assert no_default == []
    defaults = config.defaults()
    # Reconciled: config/config.yaml's 21 GCN topics (what ran), not the schema's former 2.
    assert len(defaults["listen"]["gcn"]["topics"]) == 21
    assert defaults["listen"]["gcn"]["topics"][:2] == ["igwn.gwalert", "gcn.notices.icecube.lvk_nu_track_search"]
    assert defaults["orchestrator"]["thresholds"]["burst_mdc"] == {
        "rank": 0, "trials_factor": 1, "significant_far_hz": None, "less_significant_trials_factor": 1,
        "less_significant_far_hz": None}
    assert defaults["frb"]["follow"] == {"timeout_s": 600.0, "poll_s": 1.0}
    assert defaults["skymap"]["flat_nside"] == 512 and defaults["retries"] == 1
    assert defaults["gwcand"]["bayestar"] == {"waveform": "TaylorF2threePointFivePN", "f_low_hz": 30, "threads": 2}


def test_frb_defaults_of_the_code_equal_the_schema():
    from skyspool.frb.products import DEFAULT_CONFIG

    assert DEFAULT_CONFIG == config.defaults()["frb"]


def test_config_yaml_is_generated_from_the_schema_and_valid():
    text = CONFIG_YAML.read_text()
    assert text == config.config_yaml_text(), "run: python -m skyspool.config"
    assert text.startswith("# skyspool default configuration: GENERATED from workflow/schemas/config.schema.yaml")
    loaded = yaml.safe_load(text)
    assert set(loaded) == {"max_input_bytes", "retries", "job_timeout_s", "cluster_profile", "skymap",
                           "gw_voevent", "fermi", "galaxies", "gcn_notices", "coincidence", "frb", "gwcand",
                           "orchestrator", "listen", "publish"}
    filled = {**loaded, "spool": "/spool"}
    validate(filled, str(SCHEMA), set_default=True)
    assert filled == {**loaded, "spool": "/spool"}  # every default is written out
    # Descriptions become comments, with the unit.
    assert "  # OpenMP threads per BAYESTAR run [threads]\n    threads: 2\n" in text
    assert ("# files larger than this are refused at the inbox and quarantined [bytes]\n"
            "max_input_bytes: 67108864\n") in text


def test_readme_and_settings_are_generated_from_the_schema():
    readme = CONFIG_README.read_text()
    assert readme == config.readme_text(), "run: python -m skyspool.config"
    documented = {line.split("`")[1] for line in readme.splitlines() if line.startswith("| `")}
    assert {key for key, _ in _walk(_schema())} <= documented
    assert "| `gwcand.bayestar.threads` | integer | `2` | threads | OpenMP threads per BAYESTAR run |" in readme
    assert "| `orchestrator.thresholds.<search>.rank` | integer | `-1` | rank |" in readme
    assert "`pipeline` -> `gwcand`, `notice` -> `gw_voevent`, `notices` -> `gcn_notices`" in readme
    assert SETTINGS_PY.read_text() == config.settings_source(), "run: python -m skyspool.config"
    assert config.main(["--check"]) == 0


def test_init_writes_the_generated_configuration_commented_out(tmp_path):
    assert cli.main(["init", str(tmp_path / "spool")]) == 0
    text = (tmp_path / "spool" / "config.yaml").read_text()
    assert yaml.safe_load(text) is None  # every setting commented out: the defaults apply
    assert "\n# gwcand:\n  # BAYESTAR localization of a candidate\n  # bayestar:\n" in text
    assert "\n    # OpenMP threads per BAYESTAR run [threads]\n    # threads: 2\n" in text
    assert "\n# max_input_bytes: 67108864\n" in text
    assert all(line.lstrip().startswith("#") for line in text.splitlines() if line.strip())


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(config, "_warned", set())


def test_old_key_names_are_read_with_one_deprecation_message(tmp_path, caplog, fresh_warnings):
    spool = Spool(tmp_path)
    spool.config_file.write_text(yaml.safe_dump({
        "pipeline": {"bayestar": {"threads": 3}},
        "notice": {"stream": "example.org/gw"},
        "notices": {"lat_fov_radius_deg": 30}}))
    with caplog.at_level(logging.WARNING, logger="skyspool.config"):
        loaded = config.load(spool)
        again = config.load(spool, {"gwcand": {"bayestar": {"threads": 4}}, "pipeline": {"bayestar": {"threads": 5}}})
    assert loaded["gwcand"]["bayestar"] == {"waveform": "TaylorF2threePointFivePN", "f_low_hz": 30, "threads": 3}
    assert loaded["gw_voevent"]["stream"] == "example.org/gw"
    assert loaded["gw_voevent"]["author_ivorn"] == "skyspool.invalid"
    assert loaded["gcn_notices"] == {"lat_fov_radius_deg": 30}
    assert not {"pipeline", "notice", "notices"} & set(loaded)
    assert again["gwcand"]["bayestar"]["threads"] == 4  # the new name wins over the old one
    messages = [r.getMessage() for r in caplog.records if r.name == "skyspool.config"]
    assert sorted(messages) == sorted([
        f"config key 'notice' ({spool.config_file}) is deprecated: use 'gw_voevent'",
        f"config key 'notices' ({spool.config_file}) is deprecated: use 'gcn_notices'",
        f"config key 'pipeline' ({spool.config_file}) is deprecated: use 'gwcand'"])


def test_the_workflow_reads_an_old_key_name(tmp_path, fresh_warnings):
    """A spool configured with ``pipeline:`` still gets its settings where the rules read them."""
    spool = Spool(tmp_path)
    spool.config_file.write_text("pipeline:\n  bayestar:\n    threads: 1\nnotices:\n  lat_fov_radius_deg: 40\n")
    loaded = config.load(spool)
    assert settings.of(loaded).gwcand.bayestar.threads == 1
    assert settings.of(loaded).gcn_notices.lat_fov_radius_deg == 40


def test_settings_are_typed_frozen_and_complete(tmp_path):
    loaded = config.load(Spool(tmp_path), {"frb": {"follow": {"poll_s": 0.5}}})
    typed = settings.of(loaded)
    assert typed.spool == str(tmp_path)
    assert typed.frb.follow.poll_s == 0.5 and typed.frb.follow.timeout_s == 600.0
    assert typed.orchestrator.thresholds.cbc_allsky.trials_factor == 7
    assert typed.orchestrator.thresholds.cbc_allsky.significant_far_hz == pytest.approx(3.8580246913580245e-7)
    assert typed.skymap.credible_levels == (50, 90)
    assert typed.coincidence.windows_s["grb_cbc"] == (-1, 5)
    assert typed.listen.gcn.topics[0] == "igwn.gwalert"
    assert typed.frb.email is None and typed.job_timeout_s is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        typed.frb.follow.poll_s = 2.0
    with pytest.raises(TypeError):
        typed.coincidence.windows_s["grb_cbc"] = (0, 1)
    # A partial configuration (a unit's, a test's) takes the schema's defaults.
    partial = settings.of({"frb": {"thresholds": {"lofar": {"snr_min": 25.0}}}, "retries": 3})
    assert partial.frb.thresholds.lofar.snr_min == 25.0 and partial.frb.thresholds.lofar.width_max == 80
    assert partial.retries == 3 and partial.galaxies.top_n == 0 and partial.spool is None
    email = settings.of({"frb": {"email": {"host": "smtp.example.org", "to": ["a@example.org"]}}}).frb.email
    assert email.host == "smtp.example.org" and email.to == ("a@example.org",) and email.port is None
    # Each field's docstring is the schema's description with its unit.
    assert '    threads: int = 2\n    """OpenMP threads per BAYESTAR run [threads]"""\n' in SETTINGS_PY.read_text()
