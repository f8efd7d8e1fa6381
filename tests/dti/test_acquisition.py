"""Two acquisitions alike or not: shells grouped as scanners write them, and each difference named with
this scan's value and the reference's (another scan, or the protocol), within stated tolerances."""

from imaging.dti.acquisition import Tolerances, acquisition_summary, compare_acquisitions, compare_with_protocol, shells

GRID = [[2.0, 0, 0, -40], [0, 2.0, 0, -40], [0, 0, 2.5, -30], [0, 0, 0, 1]]


def summary(bvals, **scanner):
    return acquisition_summary(bvals, (96, 96, 60), GRID, scanner)


def test_b_values_a_few_units_apart_are_one_shell_and_b0s_are_b_0():
    assert shells([0, 5, 995, 1000, 1005, 2000, 2010]) == [[0.0, 2], [1000.0, 3], [2000.0, 2]]


def test_the_summary_gives_voxel_size_matrix_and_the_scanner_known():
    found = summary([0, 1000, 1000], manufacturer="Philips", field_strength=1.5, model="")
    assert found == {
        "shells": [[0.0, 1], [1000.0, 2]],
        "voxel_size": [2.0, 2.0, 2.5],
        "matrix": [96, 96, 60],
        "manufacturer": "Philips",
        "field_strength": 1.5,
    }


def test_the_same_acquisition_has_no_difference():
    assert compare_acquisitions(summary([0] + [1000] * 30), summary([0, 0] + [998] * 30)) == []


def test_another_b_value_fewer_directions_and_another_scanner_are_each_named():
    baseline = summary([0] + [1000] * 30, manufacturer="Siemens", field_strength=3.0, echo_time=80.0)
    assert compare_acquisitions(summary([0] + [700] * 30), baseline) == [
        {"item": "b_values", "value": [700.0], "expected": [1000.0]}
    ]
    assert compare_acquisitions(summary([0] + [1000] * 20), baseline) == [
        {"item": "directions", "value": [20], "expected": [30]}
    ]
    other = summary([0] + [1000] * 30, manufacturer="GE", field_strength=1.5, echo_time=95.0)
    assert [d["item"] for d in compare_acquisitions(other, baseline)] == ["manufacturer", "field_strength", "echo_time"]


def test_timing_within_its_tolerance_and_an_unknown_scanner_are_not_differences():
    baseline = summary([0] + [1000] * 30, echo_time=80.0, repetition_time=5000.0)
    assert compare_acquisitions(summary([0] + [1000] * 30, echo_time=83.0), baseline) == []  # 3.75 % < 5 %
    assert compare_acquisitions(summary([0] + [1000] * 30), baseline) == []  # a NIfTI upload knows no TE


def test_the_protocol_checks_shells_minimum_directions_and_voxel_size():
    protocol = {"b_values": [1000], "min_directions": 30, "voxel_size": [2, 2, 2]}
    found = compare_with_protocol(summary([0] + [1000] * 20), protocol, Tolerances(voxel_mm=0.1))
    assert found == [
        {"item": "directions", "value": [20], "expected": 30},
        {"item": "voxel_size", "value": [2.0, 2.0, 2.5], "expected": [2, 2, 2]},
    ]
    assert compare_with_protocol(summary([0] + [1000] * 32), {"b_values": [1000], "min_directions": 30}) == []
