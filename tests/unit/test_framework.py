"""The framework file: the shipped ones are valid and say what the programme says; a malformed one is
refused with every problem named at its place in the file; the app refuses to start with one."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.config import ConfigError, load_config
from portal.organisations.models import OrganisationKind
from referrals.framework import (
    DEFAULT_FRAMEWORK,
    SHIPPED_FRAMEWORKS,
    Framework,
    FrameworkError,
    load_framework,
    parse_framework,
)
from referrals.setup import current_framework, framework_path, init_app, main
from sharing_protocols.vocabulary import CATEGORIES

KINDS = frozenset(kind.value for kind in OrganisationKind)
PARTNER_KINDS = KINDS - {"council_team"}


@pytest.fixture(scope="module")
def tf2015() -> Framework:
    return load_framework(SHIPPED_FRAMEWORKS["troubled_families_2015"], KINDS)


@pytest.fixture(scope="module")
def sf2022() -> Framework:
    return load_framework(SHIPPED_FRAMEWORKS["supporting_families_2022"], KINDS)


# ------------------------------------------------------------------------------------ shipped files


def test_the_default_framework_is_the_six_headline_criteria_with_a_threshold_of_two(tf2015):
    assert DEFAULT_FRAMEWORK == "troubled_families_2015"
    assert tf2015.threshold == 2
    assert [c.number for c in tf2015.criteria] == [1, 2, 3, 4, 5, 6]
    assert [c.category for c in tf2015.criteria] == [
        "crime_asb",
        "education",
        "children_need_help",
        "employment_finance",
        "domestic_abuse",
        "health",
    ]
    assert 30 <= sum(len(c.indicators) for c in tf2015.criteria) <= 40
    assert len(tf2015.routes) == 6


def test_the_default_framework_uses_the_categories_sharing_protocols_already_name(tf2015):
    assert set(tf2015.categories) == set(CATEGORIES) - {"programme_membership"}


def test_the_2022_framework_is_ten_headline_outcomes_with_a_threshold_of_three(sf2022):
    assert sf2022.threshold == 3
    assert [c.number for c in sf2022.criteria] == list(range(1, 11))
    assert all(len(c.indicators) >= 3 for c in sf2022.criteria)
    assert {"early_years", "substance_use", "family_relationships", "housing"} <= set(sf2022.categories)


@pytest.mark.parametrize("name", sorted(SHIPPED_FRAMEWORKS))
def test_every_shipped_route_names_real_partner_kinds_and_every_criterion_has_a_route(name):
    framework = load_framework(SHIPPED_FRAMEWORKS[name], KINDS)
    for route in framework.routes:
        assert route.sectors <= PARTNER_KINDS, route.key
        assert route.indicator in {i.key for i in framework.criterion(route.criterion).indicators}
    assert {r.criterion for r in framework.routes} == {c.key for c in framework.criteria}


@pytest.mark.parametrize("name", sorted(SHIPPED_FRAMEWORKS))
def test_every_shipped_file_starts_with_a_comment_for_the_council_officer_editing_it(name):
    text = SHIPPED_FRAMEWORKS[name].read_text()
    assert text.startswith("# ")
    assert "PORTAL_FRAMEWORK_FILE" in text
    assert "python -m referrals.setup" in text


def test_a_school_may_nominate_under_attendance_but_a_gp_practice_may_not(tf2015):
    assert tf2015.route("education_equivalent_concern") in tf2015.routes_for("school")
    assert tf2015.route("education_equivalent_concern") not in tf2015.routes_for("gp_practice")


def test_health_professionals_may_nominate_under_health_and_schools_may_not(tf2015):
    health = tf2015.route("health_equivalent_concern")
    assert health in tf2015.routes_for("gp_practice")
    assert health in tf2015.routes_for("health_visiting")
    assert health not in tf2015.routes_for("school")
    assert health not in tf2015.routes_for("rsl")


def test_any_partner_may_nominate_under_crime_children_finance_and_domestic_abuse(tf2015):
    for route in ("crime_asb_equivalent_concern", "children_need_help_equivalent_concern"):
        assert tf2015.route(route).sectors == PARTNER_KINDS
    for route in ("financial_exclusion_risk", "domestic_abuse_concern"):
        assert tf2015.route(route).sectors == PARTNER_KINDS
    assert tf2015.routes_for("council_team") == ()


def test_a_family_is_eligible_at_the_threshold_and_not_below(tf2015, sf2022):
    assert not tf2015.eligible(set())
    assert not tf2015.eligible({"crime_asb"})
    assert tf2015.eligible({"crime_asb", "health"})
    assert not sf2022.eligible({"education", "housing"})
    assert sf2022.eligible({"education", "housing", "early_years"})


def test_eligibility_refuses_a_criterion_the_framework_does_not_have(sf2022):
    with pytest.raises(ValueError, match="financial_exclusion"):
        sf2022.eligible({"education", "housing", "financial_exclusion"})


def test_lookups_raise_for_unknown_keys_and_labels_come_from_the_file(tf2015):
    assert tf2015.criterion("health").number == 6
    with pytest.raises(KeyError):
        tf2015.route("no_such_route")
    with pytest.raises(KeyError):
        tf2015.criterion("no_such_criterion")
    assert tf2015.category_label("education") == "School attendance"
    assert tf2015.category_label("some_new_thing") == "Some new thing"


# ---------------------------------------------------------------------------------- malformed files


def minimal() -> dict[str, Any]:
    return {
        "key": "test_framework",
        "name": "Test framework",
        "period": "2024-2025",
        "version": "1",
        "threshold": 2,
        "categories": {"crime_asb": "Crime", "health": "Health"},
        "criteria": [
            {
                "key": "crime",
                "number": 1,
                "title": "Crime",
                "category": "crime_asb",
                "indicators": [{"key": "offence", "text": "A proven offence"}],
            },
            {
                "key": "health",
                "number": 2,
                "title": "Health",
                "category": "health",
                "indicators": [{"key": "mental_health", "text": "Mental health problems"}],
            },
        ],
        "routes": [
            {"key": "crime_concern", "title": "Crime concern", "criterion": "crime", "sectors": ["police"]},
            {
                "key": "health_concern",
                "title": "Health concern",
                "criterion": "health",
                "indicator": "mental_health",
                "sectors": ["gp_practice"],
                "hint": "For health professionals",
            },
        ],
    }


def parse(doc: Any) -> Framework:
    return parse_framework(yaml.safe_dump(doc, sort_keys=False), "test.yaml", KINDS)


def problems_of(text: str) -> list[str]:
    with pytest.raises(FrameworkError) as caught:
        parse_framework(text, "council.yaml", KINDS)
    assert str(caught.value).startswith("the framework file council.yaml has")
    return caught.value.problems


def changed(*path: Any, value: Any = ..., delete: bool = False) -> str:
    doc = minimal()
    *parents, last = path
    target = doc
    for step in parents:
        target = target[step]
    if delete:
        del target[last]
    else:
        target[last] = value
    return yaml.safe_dump(doc, sort_keys=False)


def test_the_minimal_document_is_valid():
    framework = parse(minimal())
    assert framework.route("crime_concern").category == "crime_asb"
    assert framework.route("crime_concern").indicator is None


def test_a_route_may_carry_another_declared_category_than_its_criterion():
    doc = minimal()
    doc["routes"][0]["category"] = "health"
    assert parse(doc).route("crime_concern").category == "health"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (changed("name", delete=True), "name: is required"),
        (changed("criteria", 0, "title", delete=True), "criteria[0].title: is required"),
        (changed("routes", 1, "sectors", delete=True), "routes[1].sectors: is required"),
        (changed("treshold", value=2), "treshold: is not a known key; did you mean 'threshold'?"),
        (changed("criteria", 1, "indicators", 0, "txt", value="x"), "criteria[1].indicators[0].txt: is not a known"),
        (changed("threshold", value=0), "threshold: must be a whole number from 1 to 2"),
        (changed("threshold", value=3), "threshold: must be a whole number from 1 to 2 (the number of criteria)"),
        (changed("threshold", value="two"), "threshold: must be a whole number, not 'two'"),
        (changed("threshold", value=True), "threshold: must be a whole number, not true/false"),
        (changed("routes", 0, "criterion", value="crim"), "routes[0].criterion: 'crim' is not the key of any"),
        (changed("routes", 0, "sectors", value=["gp"]), "routes[0].sectors[0]: 'gp' is not an organisation kind"),
        (changed("routes", 0, "sectors", value=[]), "routes[0].sectors: must be a list of one or more"),
        (changed("routes", 0, "sectors", value="police"), "routes[0].sectors: must be a list"),
        (changed("routes", 0, "sectors", value=["police", "police"]), "routes[0].sectors[1]: 'police' is listed"),
        (changed("routes", 1, "indicator", value="offence"), "routes[1].indicator: 'offence' is not an indicator"),
        (changed("criteria", 0, "category", value="Crime ASB"), "criteria[0].category: 'Crime ASB' is not a data"),
        (changed("criteria", 0, "category", value="education"), "criteria[0].category: 'education' is not declared"),
        (changed("criteria", 0, "category", value=None), "criteria[0].category: must not be empty"),
        (changed("routes", 0, "category", value=None), "routes[0].category: must not be empty"),
        (changed("categories", "programme_membership", value="Flag"), "categories.programme_membership: 'progr"),
        (changed("categories", "housing", value="Housing"), "categories.housing: is declared but no criterion"),
        (changed("criteria", 0, "indicators", value=[]), "criteria[0].indicators: must be a list of 1 to 50 entries"),
        (changed("criteria", 1, "key", value="crime"), "criteria[1].key: 'crime' is already used by criteria[0]"),
        (changed("criteria", 1, "number", value=1), "criteria[1].number: 1 is already used by criteria[0]"),
        (changed("criteria", 1, "number", value=7), "criteria[1].number: must be from 1 to 2"),
        (changed("criteria", 1, "indicators", 0, "key", value="offence"), "criteria[1].indicators[0].key: 'off"),
        (changed("criteria", 0, "key", value="Crime"), "criteria[0].key: 'Crime' must be lowercase letters"),
        (changed("routes", 0, "title", value=""), "routes[0].title: must not be empty"),
        (changed("routes", 0, "hint", value="x" * 1001), "routes[0].hint: must be 1000 characters or fewer"),
        (changed("version", value=1.0), "version: must be text, not the number 1.0; put it in quotes"),
        (changed("period", value=["2024"]), "period: must be text, not a list"),
        (changed("routes", 1, "criterion", value="crime"), "criteria[1]: no route lets a partner nominate"),
        (changed("routes", value={"a": 1}), "routes: must be a list of 1 to 60 entries; not a mapping"),
        ("- one\n- two\n", "the file: must be a mapping with the keys categories, criteria,"),
        ("just some words\n", "the file: must be a mapping"),
        ("", "the file: is empty"),
        ("# only a comment\n", "the file: is empty"),
        ("key: [unclosed\n", "line 2, column 1: not valid YAML"),
        ("key: a\n  name: b\n", "line 2, column 7: not valid YAML: mapping values are not allowed here"),
        ("a: 1\n---\nb: 2\n", "line 2, column 1: not valid YAML: but found another document"),
        ("!!python/object/apply:os.system ['true']\n", "line 1, column 1: not valid YAML: could not determine"),
        ("\tkey: x\n", "line 1, column 1: not valid YAML: found character '\\t' that cannot start any token"),
        ("key: x\nkey: y\n", "key: appears twice (lines 1 and 2); keep one"),
    ],
)
def test_a_malformed_file_is_refused_with_its_place_named(text, expected):
    problems = problems_of(text)
    assert any(p.startswith(expected) for p in problems), problems


def test_a_duplicate_key_deep_in_the_file_is_named_by_its_path():
    text = yaml.safe_dump(minimal(), sort_keys=False).replace(
        "  title: Health\n", "  title: Health\n  title: Physical health\n", 1
    )
    assert any(p.startswith("criteria[1].title: appears twice (lines") for p in problems_of(text))


def test_every_problem_is_listed_not_only_the_first():
    doc = minimal()
    doc["threshold"] = 9
    doc["routes"][0]["sectors"] = ["gp"]
    doc["criteria"][1]["titel"] = "Health"
    problems = problems_of(yaml.safe_dump(doc))
    assert len(problems) == 3
    assert {p.split(":")[0] for p in problems} == {"threshold", "routes[0].sectors[0]", "criteria[1].titel"}


def test_removing_any_required_key_from_a_shipped_file_names_that_key():
    document = yaml.safe_load(SHIPPED_FRAMEWORKS["troubled_families_2015"].read_text())

    def optional(path: tuple[Any, ...]) -> set[str]:
        if path[:1] == ("routes",):
            return {"category", "indicator", "hint"}
        return {"description"} if len(path) < 3 else set()

    def required_paths(value: Any, path: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if isinstance(value, dict) and path != ("categories",):
            here = [(*path, key) for key in value if key not in optional(path)]
            return here + [p for key, v in value.items() for p in required_paths(v, (*path, key))]
        if isinstance(value, list) and path[-1] != "sectors":
            return [p for i, v in enumerate(value) for p in required_paths(v, (*path, i))]
        return []

    paths = required_paths(document, ())
    assert len(paths) == 8 + 6 * 5 + 35 * 2 + 6 * 4  # top level, criteria, indicators, routes
    for path in paths:
        doc = copy.deepcopy(document)
        target = doc
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]
        name = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path).lstrip(".")
        with pytest.raises(FrameworkError) as caught:
            parse(doc)
        problems = caught.value.problems
        assert problems[0] == f"{name}: is required", name
        # at most one consequence: routes cannot name a criterion without a key, nor cover one without a route
        assert len(problems) == 1 or (len(problems) == 2 and name.endswith((".key", ".criterion"))), problems


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 30) | st.text(max_size=12) | st.sampled_from(sorted(KINDS)),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["key", "name", "criteria", "routes", "sectors", "threshold", "category", "x"]), inner
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(yaml_values)
def test_any_document_either_parses_or_raises_a_framework_error(document):
    try:
        parse(document)
    except FrameworkError as exc:
        assert exc.problems


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_either_parses_or_raises_a_framework_error(text):
    try:
        parse_framework(text, "random.yaml", KINDS)
    except FrameworkError as exc:
        assert exc.problems


@settings(max_examples=100, deadline=None)
@given(
    route=st.integers(0, 5),
    sectors=st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=15), min_size=1),
)
def test_a_route_is_accepted_exactly_when_its_sectors_are_distinct_organisation_kinds(route, sectors):
    document = yaml.safe_load(SHIPPED_FRAMEWORKS["troubled_families_2015"].read_text())
    document["routes"][route]["sectors"] = sectors
    valid = set(sectors) <= KINDS and len(set(sectors)) == len(sectors)
    try:
        framework = parse(document)
    except FrameworkError as exc:
        assert not valid
        assert all(p.startswith(f"routes[{route}].sectors") for p in exc.problems)
    else:
        assert valid
        assert framework.routes[route].sectors == frozenset(sectors)


def test_load_framework_refuses_a_missing_or_non_utf8_file(tmp_path):
    with pytest.raises(FrameworkError, match="cannot be read"):
        load_framework(tmp_path / "absent.yaml", KINDS)
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("name: Café".encode("latin-1"))
    with pytest.raises(FrameworkError, match="not UTF-8"):
        load_framework(latin1, KINDS)


# ------------------------------------------------------------------------------ configuration and app


def test_the_framework_file_defaults_to_the_2015_framework_and_may_name_a_shipped_one(tmp_path):
    # the shell keeps what was configured; the domain's setup resolves it (the shell imports no domain)
    def configured(env: dict[str, str]) -> str:
        return framework_path(str(load_config(tmp_path, env)["FRAMEWORK_FILE"]))

    assert configured({"PORTAL_ENV": "test"}) == str(SHIPPED_FRAMEWORKS["troubled_families_2015"])
    env = {"PORTAL_ENV": "test", "PORTAL_FRAMEWORK_FILE": "supporting_families_2022"}
    assert configured(env) == str(SHIPPED_FRAMEWORKS["supporting_families_2022"])
    env["PORTAL_FRAMEWORK_FILE"] = "/etc/portal/framework.yaml"
    assert configured(env) == "/etc/portal/framework.yaml"


def test_the_app_loads_the_configured_framework(tmp_path):
    app = Flask(__name__)
    app.config["FRAMEWORK_FILE"] = str(SHIPPED_FRAMEWORKS["supporting_families_2022"])
    init_app(app)
    with app.app_context():
        assert current_framework().key == "supporting_families_2022"


def test_the_app_refuses_to_start_with_a_malformed_framework_listing_every_problem(tmp_path):
    path = tmp_path / "framework.yaml"
    path.write_text(changed("threshold", value=5).replace("- police", "- gp"))
    app = Flask(__name__)
    app.config["FRAMEWORK_FILE"] = str(path)
    with pytest.raises(ConfigError) as caught:
        init_app(app)
    message = str(caught.value)
    assert message.startswith(f"Refusing to start: the framework file {path} has 2 problems:")
    assert "\n  - threshold: must be a whole number from 1 to 2" in message
    assert "\n  - routes[0].sectors[0]: 'gp' is not an organisation kind" in message
    assert "framework" not in app.extensions


def test_current_framework_says_how_to_fix_a_missing_init_app():
    with Flask(__name__).app_context(), pytest.raises(RuntimeError, match=r"referrals\.setup\.init_app"):
        current_framework()


def test_the_checking_command_reports_valid_and_invalid_files(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(changed("routes", 0, "sectors", value=["gp"]))
    assert main([str(p) for p in SHIPPED_FRAMEWORKS.values()]) == 0
    assert main([str(bad)]) == 1
    out, err = capsys.readouterr()
    assert "valid. Troubled Families programme" in out
    assert "routes[0].sectors[0]: 'gp' is not an organisation kind" in err
