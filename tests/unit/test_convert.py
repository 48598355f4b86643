"""lsimport.convert, in process: each format's tasks, its errors, and the shared core."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lsimport.check.labelconfig import parse_label_config
from lsimport.convert import ConvertOptions, open_conversion
from lsimport.convert.brush import _decompress, coco_rle_to_mask, mask_to_rle
from lsimport.convert.config import generate_config
from lsimport.convert.core import join_url, need, parse_classes
from lsimport.convert.imagesize import ImageSizeError, image_size
from lsimport.errors import UsageError
from lsimport.model import Record

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data" / "convert"


def convert(
    fmt: str, *paths: Path | str, config: str | None = None, **options: Any
) -> list[Record]:
    parsed = parse_label_config(config) if config else None
    conv = open_conversion(fmt, [str(p) for p in paths], ConvertOptions(**options), parsed)
    return list(conv.records())


def tasks(records: list[Record]) -> list[dict[str, Any]]:
    bad = [(r.where, [f.message for f in r.findings]) for r in records if r.has_errors]
    assert not bad, bad
    return [r.task for r in records if r.task is not None]


def result(task: dict[str, Any]) -> list[dict[str, Any]]:
    (prediction,) = task["predictions"]
    out: list[dict[str, Any]] = prediction["result"]
    return out


def shape(value: dict[str, Any]) -> dict[str, Any]:
    """A region value's geometry, without its labels (pytest.approx takes flat dicts)."""
    return {k: v for k, v in value.items() if not isinstance(v, list)}


def copy(name: str, tmp: Path) -> Path:
    return Path(shutil.copytree(SAMPLES / name, tmp / name))


# --------------------------------------------------------------------------- core


@pytest.mark.parametrize(
    ("root", "name", "url"),
    [
        ("/data/local-files/?d=images", "a.jpg", "/data/local-files/?d=images/a.jpg"),
        ("/data/local-files/?d=", "sub/a b.jpg", "/data/local-files/?d=sub/a%20b.jpg"),
        ("http://host/imgs/", "a#1.jpg", "http://host/imgs/a%231.jpg"),
        ("s3://bucket", "x/y.png", "s3://bucket/x/y.png"),
        ("/static", "\\win\\a.png", "/static/win/a.png"),
    ],
)
def test_image_urls_join_as_label_studio_converter_does(root: str, name: str, url: str) -> None:
    assert join_url(root, name) == url


@pytest.mark.parametrize(
    ("fmt", "mode", "options"),
    [
        ("PNG", "RGB", {}),
        ("JPEG", "RGB", {}),
        ("JPEG", "L", {"progressive": True}),
        ("GIF", "P", {}),
        ("BMP", "RGB", {}),
        ("WEBP", "RGB", {}),
        ("WEBP", "RGB", {"lossless": True}),
        ("WEBP", "RGBA", {}),  # VP8X
        ("TIFF", "RGB", {}),  # Pillow's lazy open
    ],
)
def test_image_sizes_come_from_headers(
    tmp_path: Path, fmt: str, mode: str, options: dict[str, Any]
) -> None:
    path = tmp_path / f"x.{fmt.lower()}"
    Image.new(mode, (321, 123)).save(path, fmt, **options)
    assert image_size(path) == (321, 123)


def test_a_jpeg_cut_before_its_frame_header_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    Image.new("RGB", (10, 10)).save(path, exif=b"Exif\x00\x00" + b"\x00" * 400)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageSizeError, match="truncated"):
        image_size(path)
    (tmp_path / "n.jpg").write_bytes(b"not an image at all, not even close")
    with pytest.raises(ImageSizeError):
        image_size(tmp_path / "n.jpg")


def test_a_png_header_is_read_without_decoding(tmp_path: Path) -> None:
    # only the first bytes exist: a decoder would fail, the header reader does not
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 4000, 3000)
    (tmp_path / "big.png").write_bytes(head + b"\x08\x02\x00\x00\x00")
    assert image_size(tmp_path / "big.png") == (4000, 3000)


def test_class_names_from_lists_pairs_and_files(tmp_path: Path) -> None:
    assert parse_classes("cat, dog") == {0: "cat", 1: "dog"}
    assert parse_classes("1=road,7=car") == {1: "road", 7: "car"}
    (tmp_path / "classes.txt").write_text("a\nb\n\n")
    assert parse_classes(str(tmp_path / "classes.txt")) == {0: "a", 1: "b"}
    (tmp_path / "data.yaml").write_text("names: {0: x, 3: y}\n")
    assert parse_classes(str(tmp_path / "data.yaml")) == {0: "x", 3: "y"}
    (tmp_path / "c.json").write_text('{"1": "road"}')
    assert parse_classes(str(tmp_path / "c.json")) == {1: "road"}
    with pytest.raises(UsageError, match="ID=NAME"):
        parse_classes("x=road")


def test_a_missing_extra_names_the_pip_command() -> None:
    with pytest.raises(UsageError) as info:
        need("surely_not_installed_module")
    assert "pip install 'lsimport[convert]'" in str(info.value)


def test_the_generated_config_escapes_labels_and_parses() -> None:
    conv = open_conversion(
        "yolo", [str(SAMPLES / "yolo")], ConvertOptions(classes='a "quoted" <one>,b&c')
    )
    xml = generate_config(conv.plan, conv.targets)
    parsed = parse_label_config(xml)
    assert parsed.controls["label"].labels == frozenset({'a "quoted" <one>', "b&c"})
    assert parsed.objects == {"image": "Image"}


def test_control_names_come_from_the_given_config() -> None:
    config = """<View><Image name="img" value="$image"/>
      <Choices name="q" toName="img"><Choice value="ok"/></Choices>
      <RectangleLabels name="boxes" toName="img">
        <Label value="person"/><Label value="car"/><Label value="bicycle"/>
      </RectangleLabels></View>"""
    (task, *_) = tasks(convert("yolo", SAMPLES / "yolo", config=config))[1:]
    assert {(r["from_name"], r["to_name"]) for r in result(task)} == {("boxes", "img")}
    with pytest.raises(UsageError, match="no <PolygonLabels>"):
        convert("yolo", SAMPLES / "yolo-seg", config=config)
    with pytest.raises(UsageError, match=r"'q' is not a <RectangleLabels> .*\(those: boxes\)"):
        convert("yolo", SAMPLES / "yolo", config=config, from_name="q")


def test_tasks_are_checked_against_the_config() -> None:
    config = """<View><Image name="image" value="$image"/>
      <RectangleLabels name="label" toName="image"><Label value="person"/></RectangleLabels>
      </View>"""
    records = convert("yolo", SAMPLES / "yolo", config=config)
    street = next(r for r in records if r.file.endswith("street.txt"))
    assert {f.code for f in street.findings} == {"config.label"}
    assert street.findings[0].pointer == "/predictions/0/result/1/value/rectanglelabels"


# --------------------------------------------------------------------------- yolo


def test_yolo_boxes_become_percent_top_left() -> None:
    out = {t["data"]["image"]: t for t in tasks(convert("yolo", SAMPLES / "yolo"))}
    assert "predictions" not in out["/data/local-files/?d=images/empty.png"]
    first = result(out["/data/local-files/?d=images/street.jpg"])[0]
    assert shape(first["value"]) == pytest.approx(
        {"x": 40.0, "y": 30.0, "width": 20.0, "height": 40.0, "rotation": 0.0}
    )
    assert first["value"]["rectanglelabels"] == ["person"]
    assert (first["original_width"], first["original_height"]) == (640, 480)
    assert "score" not in first


def test_yolo_predict_output_confidences_become_scores() -> None:
    out = tasks(convert("yolo", SAMPLES / "yolo-predict", classes="person,car"))
    street = next(t for t in out if t["data"]["image"].endswith("street.jpg"))
    assert street["data"]["image"] == "/data/local-files/?d=street.jpg"
    assert [r["score"] for r in result(street)] == [0.91, 0.67]
    assert street["predictions"][0]["score"] == pytest.approx((0.91 + 0.67) / 2)


def test_yolo_polygons_keypoints_and_oriented_boxes() -> None:
    (seg,) = tasks(convert("yolo", SAMPLES / "yolo-seg"))
    assert seg["data"]["image"].endswith("images/val/field.png")
    points = [c for p in result(seg)[0]["value"]["points"] for c in p]
    assert points == pytest.approx([10, 10, 30, 10, 30, 40, 10, 40])
    assert result(seg)[1]["value"]["polygonlabels"] == ["sheep"]
    (pose,) = tasks(convert("yolo", SAMPLES / "yolo-pose"))
    kinds = [(r["type"], r["from_name"]) for r in result(pose)]
    # the third keypoint has visibility 0: not labelled, left out
    assert (
        kinds
        == [("rectanglelabels", "label_rectangles")] + [("keypointlabels", "label_keypoints")] * 2
    )
    # width: without it Label Studio's editor loses the keypoint
    assert result(pose)[1]["value"] == {
        "x": 50.0,
        "y": 20.0,
        "width": 1.0,
        "keypointlabels": ["person"],
    }
    (obb,) = tasks(convert("yolo", SAMPLES / "yolo-obb", obb=True))
    ship, plane = (r["value"] for r in result(obb))
    assert ship["x"] == pytest.approx(30) and ship["y"] == pytest.approx(20)
    assert ship["width"] == pytest.approx(((160**2 + 60**2) ** 0.5) / 800 * 100)
    assert ship["rotation"] == pytest.approx(20.556045, abs=1e-5)
    # corners given counter-clockwise: read clockwise, an upright box (not one turned 90°)
    assert shape(plane) == pytest.approx(
        {"x": 60, "y": 60, "width": 20, "height": 10, "rotation": 0}
    )


def test_yolo_bad_lines_are_reported_where_they_are(tmp_path: Path) -> None:
    src = copy("yolo", tmp_path)
    (src / "labels" / "street.txt").write_text("0 0.5 0.5 0.2 0.4\n7 0.1 0.1 0.1 0.1\nx 1 2\n")
    (src / "labels" / "park.txt").write_text("0 0.5 0.5 0.2\n")
    records = convert("yolo", src)
    bad = {Path(r.file).name: r for r in records if r.has_errors}
    assert set(bad) == {"street.txt", "park.txt"}
    street = bad["street.txt"]
    assert street.line == 2 and street.task is None
    assert [f.message for f in street.findings] == [
        "line 2: class 7 has no name (classes: 3)",
        "line 3: not numbers: a label line is `class x y ...` with an integer class",
    ]
    assert bad["park.txt"].findings[0].message == (
        "line 1: 4 columns do not make a box: class cx cy w h [conf [track id]]"
    )


def test_yolo_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no class names"):
        convert("yolo", SAMPLES / "yolo-predict")
    src = copy("yolo-predict", tmp_path)
    for image in src.glob("*.jpg"):
        image.unlink()
    with pytest.raises(UsageError, match="labels but no images"):
        convert("yolo", src, classes="a,b")
    with pytest.raises(UsageError, match="no labels/"):
        convert("yolo", src / "labels", classes="a,b")


# --------------------------------------------------------------------------- coco


def test_coco_dataset_boxes_polygons_keypoints_and_rle() -> None:
    kitchen, crowd, empty = tasks(convert("coco", SAMPLES / "coco" / "instances.json"))
    assert [r["type"] for r in result(kitchen)] == [
        "rectanglelabels",
        "polygonlabels",
        "rectanglelabels",
        "polygonlabels",
        "polygonlabels",
        "keypointlabels",
        "keypointlabels",
        "keypointlabels",
    ]
    hidden = [r["value"].get("hidden", False) for r in result(kitchen)[5:]]
    assert hidden == [False, True, True]
    brush = result(crowd)[1]
    assert brush["type"] == "brushlabels" and brush["value"]["format"] == "rle"
    assert "predictions" not in empty


def test_coco_results_replace_the_annotations_with_scores() -> None:
    coco = SAMPLES / "coco"
    kitchen, _, _ = tasks(convert("coco", coco / "results.json", coco / "instances.json"))
    assert [r["score"] for r in result(kitchen)] == [0.93, 0.88, 0.88, 0.88, 0.88]
    assert "hidden" not in result(kitchen)[2]["value"]  # a result's third value is a score
    assert kitchen["predictions"][0]["score"] == pytest.approx((0.93 + 0.88 * 4) / 5)


def test_coco_bad_objects_are_reported_by_image(tmp_path: Path) -> None:
    doc = json.loads((SAMPLES / "coco" / "instances.json").read_text())
    doc["annotations"][0]["category_id"] = 99
    doc["annotations"][1]["segmentation"] = [[1, 2, 3]]
    (tmp_path / "c.json").write_text(json.dumps(doc))
    bad = [r for r in convert("coco", tmp_path / "c.json") if r.has_errors]
    assert len(bad) == 1 and bad[0].number == 1
    assert [f.message for f in bad[0].findings] == [
        "object 0: category_id 99 is not among the categories",
        "object 1: a polygon needs 3 or more x, y pairs",
    ]
    with pytest.raises(UsageError, match="needs the dataset file"):
        convert("coco", SAMPLES / "coco" / "results.json")


def test_coco_objects_of_no_image_are_reported_not_dropped(tmp_path: Path) -> None:
    results = json.loads((SAMPLES / "coco" / "results.json").read_text())
    results[1]["image_id"] = 404
    (tmp_path / "r.json").write_text(json.dumps([*results, 7]))
    records = convert("coco", tmp_path / "r.json", SAMPLES / "coco" / "instances.json")
    *_, last = records
    assert last.is_file_problem and (last.number, last.task) == (0, None)
    assert [f.message for f in last.findings] == [
        "1 object(s) name an image_id that is not among the dataset's images (objects 1); "
        "is it the right dataset file?",
        "1 object(s) are not JSON objects (objects 3)",
    ]


def _rle_string(counts: list[int]) -> str:
    """pycocotools' rleToString, to test the reader against."""
    out = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = (x != -1) if ch & 0x10 else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def test_coco_compressed_rle_reads_as_its_counts() -> None:
    counts = [5, 3, 100, 1, 0, 2000, 7, 7, 40000, 2]
    assert _decompress(_rle_string(counts)) == counts
    mask = coco_rle_to_mask({"counts": _rle_string([2, 3, 1]), "size": [2, 3]})
    assert mask.tolist() == [[0, 1, 1], [0, 1, 0]]
    with pytest.raises(ValueError, match="add up"):
        coco_rle_to_mask({"counts": [1, 2], "size": [2, 3]})


# --------------------------------------------------------------------------- masks


def test_brush_rle_of_an_empty_and_a_full_mask() -> None:
    # header: 32-bit count, word size 8, run sizes 3 4 8 16; then runs of 65536 at most
    empty = mask_to_rle(np.zeros((1, 1), np.uint8))
    assert empty[:4] == [0, 0, 0, 4]
    full = mask_to_rle(np.ones((300, 300), np.uint8))
    assert len(full) < 40  # 360,000 words in 6 runs


def test_masks_one_region_per_class(tmp_path: Path) -> None:
    out = tasks(convert("masks", SAMPLES / "masks", classes="1=road,2=car", image_ext=".png"))
    by_image = {t["data"]["image"].rsplit("/", 1)[1]: t for t in out}
    assert sorted(by_image) == ["junction.png", "lane.png", "parking.png", "road.png"]
    assert [r["value"]["brushlabels"] for r in result(by_image["road.png"])] == [["road"], ["car"]]
    assert [r["value"]["brushlabels"] for r in result(by_image["parking.png"])] == [["car"]]


def test_masks_with_values_the_class_map_lacks_are_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.array([[0, 1], [3, 3]], np.uint8))
    Image.new("RGB", (4, 4)).save(tmp_path / "b.png")
    np.save(tmp_path / "c.npy", np.zeros((2, 2, 2), np.uint8))
    records = convert("masks", tmp_path, classes="1=road")
    assert [f.message for r in records for f in r.findings] == [
        "pixel value(s) [3] are not in the class map (1=road)",
        "cannot read: a RGB PNG: a label mask holds one class value a pixel (grey or palette), "
        "not colours",
        "a mask is a 2-D array of integer class values; got 3-D uint8",
    ]
    with pytest.raises(UsageError, match="class map"):
        convert("masks", tmp_path)


# --------------------------------------------------------------------------- hf


def test_hf_text_classification_takes_the_top_label() -> None:
    out = tasks(convert("hf", SAMPLES / "hf" / "sentiment.jsonl"))
    assert [(result(t)[0]["value"]["choices"], result(t)[0]["score"]) for t in out] == [
        (["POSITIVE"], 0.9998),
        (["NEGATIVE"], 0.9991),
        (["POSITIVE"], 0.69),
    ]
    assert out[0]["data"] == {"text": "I love this phone"}


def test_hf_token_classification_spans_carry_their_text() -> None:
    first, second = tasks(convert("hf", SAMPLES / "hf" / "ner.jsonl"))
    assert [r["value"] for r in result(first)] == [
        {"start": 11, "end": 19, "text": "Wolfgang", "labels": ["PER"]},
        {"start": 34, "end": 40, "text": "Berlin", "labels": ["LOC"]},
    ]
    assert [r["value"]["labels"] for r in result(second)] == [["ORG"], ["ORG"], ["LOC"]]


def test_hf_object_detection_boxes_in_pixels_become_percent() -> None:
    local, remote = tasks(convert("hf", SAMPLES / "hf" / "detections.jsonl"))
    cat = result(local)[1]
    assert shape(cat["value"]) == pytest.approx(
        {"x": 333 / 6.4, "y": 72 / 4.8, "width": 304 / 6.4, "height": 301 / 4.8, "rotation": 0}
    )
    assert cat["value"]["rectanglelabels"] == ["cat"]
    assert (cat["original_width"], cat["original_height"]) == (640, 480)
    assert remote["data"] == {"image": "https://example.com/dog.jpg"}  # width/height: not data


def test_hf_image_classification_and_shape_errors(tmp_path: Path) -> None:
    (task,) = tasks(convert("hf", SAMPLES / "hf" / "image-classes.jsonl"))
    assert result(task)[0]["value"]["choices"] == ["tabby, tabby cat"]
    assert result(task)[0]["to_name"] == "image"
    path = tmp_path / "x.jsonl"
    rows = [
        {"text": "a", "output": [{"label": "X", "score": 0.5}]},
        {"text": "b", "output": {"nope": 1}},
        {"text": "c", "output": [{"label": "X"}]},
        {"text": "d"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    records = convert("hf", path)
    assert [(r.line, [f.code for f in r.findings]) for r in records] == [
        (1, []),
        (2, ["convert.hf"]),
        (3, ["convert.hf"]),
        (4, ["convert.hf"]),
        (5, ["read.json"]),
    ]


# --------------------------------------------------------------------------- mot


def test_mot_tracks_become_video_rectangle_sequences() -> None:
    config = """<View><Video name="video" value="$video" framerate="30"/>
      <VideoRectangle name="box" toName="video"/>
      <Labels name="videoLabels" toName="video"><Label value="object"/></Labels></View>"""
    (task,) = tasks(convert("mot", SAMPLES / "mot" / "MOT17-02", config=config))
    assert task["data"] == {"video": "/data/local-files/?d=videos/MOT17-02.mp4"}
    one, two = result(task)  # track 3 has only an ignored (flag 0) row
    assert (one["id"], one["from_name"], one["type"]) == ("track1", "box", "videorectangle")
    seq = one["value"]["sequence"]
    assert [k["frame"] for k in seq] == [1, 2, 3, 4]
    assert [k["enabled"] for k in seq] == [True, True, True, False]
    assert seq[1]["time"] == pytest.approx(2 / 30)  # frame / framerate, as the editor
    assert seq[0]["x"] == pytest.approx(110 / 1920 * 100)
    assert one["value"]["framesCount"] == 6 and one["value"]["labels"] == ["object"]
    assert [k["enabled"] for k in two["value"]["sequence"]] == [True, False, True, False]
    assert "score" not in one  # ground truth: the 7th column is a flag


def test_video_rectangle_labels_are_checked_against_the_labels_on_the_video() -> None:
    config = """<View><Video name="video" value="$video"/>
      <VideoRectangle name="box" toName="video"/>
      <Labels name="videoLabels" toName="video"><Label value="person"/></Labels></View>"""
    (record,) = convert("mot", SAMPLES / "mot" / "MOT17-02", config=config)
    assert {f.code for f in record.findings} == {"config.label"}
    assert "'object' not among the labels of 'box' ('person')" in record.findings[0].message


def test_mot_class_column_labels_tracks_with_classes() -> None:
    (task,) = tasks(convert("mot", SAMPLES / "mot" / "MOT17-02", classes="1=pedestrian,3=car"))
    assert [r["value"]["labels"] for r in result(task)] == [["pedestrian"], ["car"]]
    (bad,) = convert("mot", SAMPLES / "mot" / "MOT17-02", classes="1=pedestrian")
    assert [f.message for f in bad.findings][:1] == ["line 5: class 3 is not in --classes"]


def test_yolo_track_output_has_a_track_id_after_the_confidence(tmp_path: Path) -> None:
    src = copy("yolo-predict", tmp_path)
    (src / "labels" / "park.txt").write_text("1 0.1 0.2 0.1 0.3 0.55 17\n")
    out = tasks(convert("yolo", src, classes="person,car"))
    park = next(t for t in out if t["data"]["image"].endswith("park.jpg"))
    assert [(r["value"]["rectanglelabels"], r["score"]) for r in result(park)] == [(["car"], 0.55)]


def test_mot_tracker_output_needs_a_size_and_scores_its_tracks() -> None:
    config = """<View><Video name="video" value="$video"/>
      <VideoRectangle name="box" toName="video"/>
      <Labels name="videoLabels" toName="video"><Label value="object"/></Labels></View>"""
    track_file = SAMPLES / "mot" / "tracker" / "MOT17-02.txt"
    with pytest.raises(UsageError, match="video size"):
        convert("mot", track_file, config=config)
    (task,) = tasks(convert("mot", track_file, config=config, video_size=(1920, 1080)))
    (track,) = result(task)
    assert track["score"] == pytest.approx((0.8 + 0.7 + 0.6) / 3)
    assert track["value"]["sequence"][2]["time"] == pytest.approx(3 / 25)  # default framerate
