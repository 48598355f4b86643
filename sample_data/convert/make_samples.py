"""Writes the sample inputs of `lsimport convert` in this folder (run it to renew them)."""

import json
from pathlib import Path

import numpy as np
from PIL import Image

R = Path(__file__).resolve().parent


def img(p, w, h, fmt=None):
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (w, h), 128).save(p, fmt)


def txt(p, s):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(s)


# yolo dataset: boxes
d = R / "yolo"
img(d / "images/street.jpg", 640, 480)
img(d / "images/park.png", 320, 200)
img(d / "images/empty.png", 100, 100)
txt(d / "classes.txt", "person\ncar\nbicycle\n")
txt(d / "labels/street.txt", "0 0.5 0.5 0.2 0.4\n1 0.25 0.6 0.3 0.2\n2 0.8 0.75 0.1 0.15\n")
txt(d / "labels/park.txt", "0 0.1 0.2 0.1 0.3\n")
# ultralytics predict output with conf
d = R / "yolo-predict"
img(d / "street.jpg", 640, 480)
img(d / "park.jpg", 320, 200)
txt(d / "labels/street.txt", "0 0.5 0.5 0.2 0.4 0.91\n1 0.25 0.6 0.3 0.2 0.67\n")
txt(d / "labels/park.txt", "0 0.1 0.2 0.1 0.3 0.55\n")
# segmentation with data.yaml and splits
d = R / "yolo-seg"
img(d / "images/val/field.png", 400, 300)
txt(
    d / "data.yaml", "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: cow\n  1: sheep\n"
)
txt(d / "labels/val/field.txt", "0 0.1 0.1 0.3 0.1 0.3 0.4 0.1 0.4\n1 0.5 0.5 0.7 0.55 0.6 0.8\n")
# OBB (DOTA style)
d = R / "yolo-obb"
img(d / "images/harbour.png", 800, 600)
txt(d / "classes.txt", "ship\nplane\n")
txt(
    d / "labels/harbour.txt",
    "0 0.3 0.2 0.5 0.3 0.4625 0.433333 0.2625 0.333333\n1 0.6 0.6 0.6 0.7 0.8 0.7 0.8 0.6\n",
)
# pose
d = R / "yolo-pose"
img(d / "images/runner.jpg", 640, 640)
txt(d / "data.yaml", "kpt_shape: [3, 3]\nnames:\n  0: person\n")
txt(d / "labels/runner.txt", "0 0.5 0.5 0.4 0.8 0.5 0.2 2 0.4 0.5 2 0 0 0\n")
# COCO
d = R / "coco"
d.mkdir(parents=True, exist_ok=True)
coco = {
    "images": [
        {"id": 1, "file_name": "kitchen.jpg", "width": 640, "height": 480},
        {"id": 2, "file_name": "crowd.jpg", "width": 20, "height": 10},
        {"id": 3, "file_name": "empty.jpg", "width": 50, "height": 50},
    ],
    "categories": [
        {
            "id": 1,
            "name": "person",
            "supercategory": "person",
            "keypoints": ["nose", "left_eye", "right_eye"],
        },
        {"id": 44, "name": "bottle"},
    ],
    "annotations": [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 44,
            "bbox": [100.5, 50, 40, 120],
            "area": 4800,
            "iscrowd": 0,
            "segmentation": [[100.5, 50, 140.5, 50, 140.5, 170, 100.5, 170]],
        },
        {
            "id": 2,
            "image_id": 1,
            "category_id": 1,
            "bbox": [300, 100, 200, 350],
            "area": 70000,
            "iscrowd": 0,
            "segmentation": [
                [300, 100, 500, 100, 500, 450, 300, 450],
                [310, 110, 320, 110, 320, 120],
            ],
            "keypoints": [400, 130, 2, 390, 120, 1, 0, 0, 0],
            "num_keypoints": 2,
        },
    ],
}
# crowd RLE on image 2 (20x10): uncompressed counts, column-major
m = np.zeros((10, 20), np.uint8)
m[2:6, 3:9] = 1
m[7:9, 15:19] = 1
flat = m.T.reshape(-1)  # column-major
counts = []
cur = 0
run = 0
for v in flat:
    if v == cur:
        run += 1
    else:
        counts.append(run)
        cur = v
        run = 1
counts.append(run)
coco["annotations"].append(
    {
        "id": 3,
        "image_id": 2,
        "category_id": 1,
        "bbox": [3, 2, 16, 7],
        "area": 32,
        "iscrowd": 1,
        "segmentation": {"counts": counts, "size": [10, 20]},
    }
)
(d / "instances.json").write_text(json.dumps(coco, indent=1))
results = [
    {"image_id": 1, "category_id": 44, "bbox": [101.0, 52.0, 38.0, 117.0], "score": 0.93},
    {
        "image_id": 1,
        "category_id": 1,
        "bbox": [298.2, 99.0, 205.1, 349.0],
        "score": 0.88,
        "keypoints": [401, 131, 0.9, 389, 121, 0.8, 410, 121, 0.3],
    },
    {
        "image_id": 2,
        "category_id": 1,
        "bbox": [3, 2, 6, 4],
        "score": 0.5,
        "segmentation": {"counts": counts, "size": [10, 20]},
    },
]
(d / "results.json").write_text(json.dumps(results, indent=1))
# masks
d = R / "masks"
d.mkdir(parents=True, exist_ok=True)
a = np.zeros((48, 64), np.uint8)
a[5:20, 10:40] = 1
a[25:45, 30:60] = 2
im = Image.fromarray(a, "P")
im.putpalette([0, 0, 0, 128, 64, 128, 0, 0, 142] + [0] * 759)
im.save(d / "road.png")
b = np.zeros((30, 40), np.uint8)
b[0:30, 0:5] = 2
b[10:12, 10:39] = 1
np.save(d / "junction.npy", b)
np.savez(
    d / "batch.npz", lane=(np.eye(16, 24, dtype=np.uint8)), parking=np.full((8, 8), 2, np.uint8)
)
txt(d / "classes.json", json.dumps({"1": "road", "2": "car"}))
# hf
d = R / "hf"
d.mkdir(parents=True, exist_ok=True)


def jl(p, rows):
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))


jl(
    d / "sentiment.jsonl",
    [
        {"text": "I love this phone", "output": [{"label": "POSITIVE", "score": 0.9998}]},
        {"text": "The battery died in a day", "output": [{"label": "NEGATIVE", "score": 0.9991}]},
        {
            "text": "It is a phone",
            "output": [{"label": "NEGATIVE", "score": 0.31}, {"label": "POSITIVE", "score": 0.69}],
        },
    ],
)
t1 = "My name is Wolfgang and I live in Berlin"
t2 = "Hugging Face is based in New York City"
jl(
    d / "ner.jsonl",
    [
        {
            "text": t1,
            "output": [
                {
                    "entity_group": "PER",
                    "score": 0.9990,
                    "word": "Wolfgang",
                    "start": 11,
                    "end": 19,
                },
                {"entity_group": "LOC", "score": 0.9996, "word": "Berlin", "start": 34, "end": 40},
            ],
        },
        {
            "text": t2,
            "output": [
                {
                    "entity": "B-ORG",
                    "score": 0.9967,
                    "index": 1,
                    "word": "Hu",
                    "start": 0,
                    "end": 2,
                },
                {
                    "entity": "I-ORG",
                    "score": 0.9312,
                    "index": 2,
                    "word": "##gging",
                    "start": 2,
                    "end": 7,
                },
                {
                    "entity": "B-LOC",
                    "score": 0.9992,
                    "index": 7,
                    "word": "New",
                    "start": 25,
                    "end": 28,
                },
            ],
        },
    ],
)
img(d / "cats.jpg", 640, 480)
jl(
    d / "detections.jsonl",
    [
        {
            "image": "cats.jpg",
            "output": [
                {
                    "score": 0.9982,
                    "label": "remote",
                    "box": {"xmin": 40, "ymin": 70, "xmax": 175, "ymax": 117},
                },
                {
                    "score": 0.9960,
                    "label": "cat",
                    "box": {"xmin": 333, "ymin": 72, "xmax": 637, "ymax": 373},
                },
            ],
        },
        {
            "image": "https://example.com/dog.jpg",
            "width": 1024,
            "height": 768,
            "output": [
                {
                    "score": 0.91,
                    "label": "dog",
                    "box": {"xmin": 100, "ymin": 100, "xmax": 600, "ymax": 700},
                }
            ],
        },
    ],
)
jl(
    d / "image-classes.jsonl",
    [
        {
            "image": "cats.jpg",
            "output": [
                {"label": "tabby, tabby cat", "score": 0.44},
                {"label": "tiger cat", "score": 0.38},
            ],
        },
    ],
)
# MOT
d = R / "mot/MOT17-02"
txt(
    d / "seqinfo.ini",
    "[Sequence]\nname=MOT17-02\nimDir=img1\nframeRate=30\nseqLength=6\nimWidth=1920\nimHeight=1080\nimExt=.jpg\n",
)
rows = []
for f in range(1, 5):
    rows.append(f"{f},1,{100 + 10 * f},200,80,160,1,1,1.0")
for f in (1, 2, 5, 6):
    rows.append(f"{f},2,{900 - 5 * f},400,60,120,1,3,0.8")
rows.append("3,3,10,10,5,5,0,8,0.1")
txt(d / "gt/gt.txt", "\n".join(rows) + "\n")
txt(
    R / "mot/tracker/MOT17-02.txt",
    "".join(f"{f},7,{500 + 4 * f},300,50,100,{0.9 - 0.1 * f:.2f},-1,-1,-1\n" for f in range(1, 4)),
)
